"""The outbox's order mail when its template cannot be rendered (a template
edited to use a variable the event does not carry, a file gone in a
deploy): the message is stored ``failed`` with the template's error, in the
email log where staff look for a customer's mail, the event's delivery is
done (not retried to no end), the event's other subscribers are delivered,
and staff resend it, rendered anew, once the template is fixed."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from integrations.events import event_delivery_run, event_emit
from integrations.models import DeliveryStatus, Event
from notifications import rendering
from notifications.models import EmailMessage, EmailStatus, SandboxEmail
from notifications.services.failures import public_error
from notifications.services.sending import email_message_deliver
from notifications.wiring import order_confirmation_send

pytestmark = pytest.mark.django_db
SUBSCRIBER = "notifications.wiring.order_confirmation_send"


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch) -> None:
    from integrations import events

    monkeypatch.setattr(events, "_enqueue", lambda *args, **kwargs: None)


def _break(templates) -> None:
    body = templates / "order_confirmation" / "body.txt"
    body.write_text("Hello {{ customer_name }}, order {{ order_id }}.")
    rendering._engine.cache_clear()


def _captured() -> Event:
    return event_emit(
        name="payment.captured",
        payload={
            "order_id": "o-91",
            "payment_id": "pay_1",
            "amount_captured": 4200,
            "currency": "EUR",
            "customer_email": "ada@example.com",
        },
    )


def _run(event: Event, subscriber: str, capture) -> str | None:
    delivery = event.deliveries.get(subscriber=subscriber)
    with capture(execute=True):
        return event_delivery_run(delivery_id=delivery.pk)


def test_a_template_error_is_stored_on_a_failed_message_not_retried(
    templates, email_accounts, django_capture_on_commit_callbacks
) -> None:
    _break(templates)
    event = _captured()

    status = _run(event, SUBSCRIBER, django_capture_on_commit_callbacks)

    assert status == DeliveryStatus.DELIVERED  # nothing a retry would change
    message = EmailMessage.objects.get()
    assert message.status == EmailStatus.FAILED
    assert (message.to_email, message.order_id) == ("ada@example.com", "o-91")
    assert message.template == "order_confirmation"
    assert message.error_code == "missing_variable"
    assert "customer_name" in message.last_error
    assert "template" in public_error(message)
    assert "customer_name" not in public_error(message)
    failed = message.events.get(type=EmailStatus.FAILED)
    assert failed.details["code"] == "missing_variable"
    assert not SandboxEmail.objects.exists()
    # Delivered again (at least once): the same message, nothing more.
    order_confirmation_send(event)
    assert EmailMessage.objects.count() == 1


def test_the_events_other_subscribers_are_delivered(
    templates, email_accounts, django_capture_on_commit_callbacks
) -> None:
    _break(templates)
    event = _captured()
    for delivery in event.deliveries.all():
        _run(event, delivery.subscriber, django_capture_on_commit_callbacks)
    statuses = dict(event.deliveries.values_list("subscriber", "status"))
    assert set(statuses.values()) == {DeliveryStatus.DELIVERED}, statuses
    assert SUBSCRIBER in statuses and len(statuses) > 1


def test_staff_resend_it_rendered_anew_once_the_template_is_fixed(
    templates, email_accounts, django_capture_on_commit_callbacks
) -> None:
    original = (templates / "order_confirmation" / "body.txt").read_text()
    _break(templates)
    _run(_captured(), SUBSCRIBER, django_capture_on_commit_callbacks)
    message = EmailMessage.objects.get()
    staff = Client()
    staff.force_login(User.objects.create_superuser("boss", "b@example.com", "pw"))
    form = {"action": "resend", "_selected_action": [message.pk]}

    # Still broken: refused with the template's reason, nothing stored.
    page = staff.post("/admin/notifications/emailmessage/", form, follow=True)
    assert "customer_name" in page.content.decode()
    assert EmailMessage.objects.count() == 1

    (templates / "order_confirmation" / "body.txt").write_text(original)
    rendering._engine.cache_clear()
    with django_capture_on_commit_callbacks(execute=False):
        staff.post("/admin/notifications/emailmessage/", form)
    copy = EmailMessage.objects.exclude(pk=message.pk).get()
    assert copy.subject == "Your order o-91 is confirmed"
    assert "€42.00" in copy.text_body
    assert email_message_deliver(message_pk=copy.pk) == EmailStatus.SENT
    assert SandboxEmail.objects.get().to_email == "ada@example.com"
