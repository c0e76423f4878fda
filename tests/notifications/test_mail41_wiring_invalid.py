"""The outbox's order mail to an address we refuse (not an address, a quoted
local part) or with an order id holding a line break: no retry would fix
it, so the delivery is done, and the message is stored ``failed`` with our
code and reason, in the email log where staff look for a customer's mail
(before, it was only logged). Nothing is sent, the event's other
subscribers are delivered, and a staff resend is refused with the reason."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from integrations.events import event_delivery_run, event_emit
from integrations.models import DeliveryStatus, Event
from notifications.models import EmailMessage, EmailStatus, SandboxEmail
from notifications.services.failures import public_error
from notifications.wiring import order_confirmation_send

pytestmark = pytest.mark.django_db
SUBSCRIBER = "notifications.wiring.order_confirmation_send"


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch) -> None:
    from integrations import events

    monkeypatch.setattr(events, "_enqueue", lambda *args, **kwargs: None)


def _captured(email: str, order_id: str = "o-41") -> Event:
    return event_emit(
        name="payment.captured",
        payload={
            "order_id": order_id,
            "payment_id": "pay_41",
            "amount_captured": 4200,
            "currency": "EUR",
            "customer_email": email,
        },
    )


def _run(event: Event, subscriber: str, capture) -> str | None:
    delivery = event.deliveries.get(subscriber=subscriber)
    with capture(execute=True):
        return event_delivery_run(delivery_id=delivery.pk)


def test_an_address_we_refuse_is_stored_on_a_failed_message(
    email_accounts, django_capture_on_commit_callbacks
) -> None:
    event = _captured(" not-an-address ")

    status = _run(event, SUBSCRIBER, django_capture_on_commit_callbacks)

    assert status == DeliveryStatus.DELIVERED  # nothing a retry would change
    message = EmailMessage.objects.get()
    assert message.status == EmailStatus.FAILED
    assert (message.to_email, message.order_id) == ("not-an-address", "o-41")
    assert message.template == "order_confirmation"
    assert message.error_code == "invalid_email"
    assert "not a valid email address" in message.last_error
    assert "address" in public_error(message)
    assert "provider" not in public_error(message)  # no provider saw it
    failed = message.events.get(type=EmailStatus.FAILED)
    assert failed.details["code"] == "invalid_email"
    assert not SandboxEmail.objects.exists()
    # Delivered again (at least once): the same message, nothing more.
    order_confirmation_send(event)
    assert EmailMessage.objects.count() == 1


def test_an_order_id_with_a_line_break_is_stored_failed(
    email_accounts, django_capture_on_commit_callbacks
) -> None:
    event = _captured("ada@example.com", order_id="o-41\r\nBcc: x@evil.test")

    _run(event, SUBSCRIBER, django_capture_on_commit_callbacks)

    message = EmailMessage.objects.get()
    assert (message.status, message.error_code) == (
        EmailStatus.FAILED,
        "invalid_header",
    )
    assert message.to_email == "ada@example.com"
    assert not SandboxEmail.objects.exists()


def test_the_events_other_subscribers_are_delivered(
    email_accounts, django_capture_on_commit_callbacks
) -> None:
    event = _captured('"a,b"@example.com')
    for delivery in event.deliveries.all():
        _run(event, delivery.subscriber, django_capture_on_commit_callbacks)
    statuses = dict(event.deliveries.values_list("subscriber", "status"))
    assert set(statuses.values()) == {DeliveryStatus.DELIVERED}, statuses
    assert SUBSCRIBER in statuses and len(statuses) > 1
    assert EmailMessage.objects.get().error_code == "invalid_email"


def test_staff_see_it_and_a_resend_is_refused_with_the_reason(
    email_accounts, django_capture_on_commit_callbacks
) -> None:
    _run(_captured("not-an-address"), SUBSCRIBER, django_capture_on_commit_callbacks)
    message = EmailMessage.objects.get()
    staff = Client()
    staff.force_login(User.objects.create_superuser("boss", "b@example.com", "pw"))

    listing = staff.get("/admin/notifications/emailmessage/?q=o-41")
    assert message.public_id in listing.content.decode()

    form = {"action": "resend", "_selected_action": [message.pk]}
    with django_capture_on_commit_callbacks(execute=True):
        page = staff.post("/admin/notifications/emailmessage/", form, follow=True)
    assert "not a valid email address" in page.content.decode()
    assert EmailMessage.objects.count() == 1
    assert not SandboxEmail.objects.exists()
