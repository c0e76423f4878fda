"""The outbox wiring: a captured payment sends the order confirmation and
shipment events send shipping notices, each once however often the event
is delivered."""

import pytest

from integrations.events import event_delivery_run, event_emit
from integrations.models import Event
from notifications.models import EmailMessage, EmailStatus, SandboxEmail
from notifications.wiring import order_confirmation_send, shipping_notice_send
from payments.services import payment_create
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db

FEDEX_URL = "https://www.fedex.com/fedextrack/?trknbr=794600000000"


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch) -> None:
    # Outbox deliveries are run by hand below, one subscriber at a time.
    from integrations import events

    monkeypatch.setattr(events, "_enqueue", lambda *args, **kwargs: None)


def _deliver(event: Event, subscriber: str, capture) -> str:
    delivery = event.deliveries.get(subscriber=subscriber)
    with capture(execute=True):
        return event_delivery_run(delivery_id=delivery.pk)


def test_captured_payment_sends_one_order_confirmation(
    email_accounts, django_capture_on_commit_callbacks
) -> None:
    ProviderAccountFactory(kind="payments", slug="pay-sbx")
    payment = payment_create(
        order_id="o-77",
        amount=4200,
        currency="EUR",
        source_token="tok_success",
        capture=True,
        idempotency_key="pay-1",
        customer_email="ada@example.com",
    )
    event = Event.objects.get(name="payment.captured")
    assert event.payload["customer_email"] == "ada@example.com"
    subscriber = "notifications.wiring.order_confirmation_send"
    assert _deliver(event, subscriber, django_capture_on_commit_callbacks)
    message = EmailMessage.objects.get()
    assert message.to_email == "ada@example.com"
    assert message.template == "order_confirmation"
    assert message.order_id == "o-77"
    assert message.subject == "Your order o-77 is confirmed"
    assert "€42.00" in message.text_body
    assert "€42.00" in message.html_body
    assert message.status == EmailStatus.SENT
    assert payment.public_id in message.context["payment_id"]
    # At least once: the same event again stores and sends nothing more.
    with django_capture_on_commit_callbacks(execute=True):
        order_confirmation_send(event)
    assert EmailMessage.objects.count() == 1
    assert SandboxEmail.objects.count() == 1


def _shipment_event(name: str, **payload: object) -> Event:
    base = {
        "shipment": "shp_1",
        "order_id": "o-78",
        "carrier": "FedEx",
        "tracking_number": "794600000000",
        "tracking_url": FEDEX_URL,
        "customer_email": "ada@example.com",
    }
    return event_emit(name=name, payload={**base, **payload}, subject="shp_1")


@pytest.mark.parametrize(
    ("name", "template", "subject"),
    [
        ("shipment.label_created", "shipping_notice", "Your order o-78 is on its way"),
        ("shipment.delivered", "delivery_notice", "Your order o-78 has been delivered"),
    ],
)
def test_shipment_events_send_a_notice_with_carrier_and_link(
    email_accounts, django_capture_on_commit_callbacks, name, template, subject
) -> None:
    event = _shipment_event(name)
    subscriber = "notifications.wiring.shipping_notice_send"
    assert _deliver(event, subscriber, django_capture_on_commit_callbacks)
    message = EmailMessage.objects.get()
    assert (message.template, message.subject) == (template, subject)
    assert "FedEx" in message.text_body and FEDEX_URL in message.text_body
    assert f'href="{FEDEX_URL}"' in message.html_body.replace("&amp;", "&")
    assert message.status == EmailStatus.SENT
    shipping_notice_send(event)
    assert EmailMessage.objects.count() == 1


def test_a_shipment_without_email_uses_the_orders_payment(email_accounts) -> None:
    ProviderAccountFactory(kind="payments", slug="pay-sbx")
    payment_create(
        order_id="o-78",
        amount=100,
        currency="USD",
        source_token="tok_success",
        capture=False,
        idempotency_key="pay-2",
        customer_email="grace@example.com",
    )
    shipping_notice_send(_shipment_event("shipment.label_created", customer_email=""))
    assert EmailMessage.objects.get().to_email == "grace@example.com"


def test_no_or_bad_recipient_sends_nothing_and_does_not_fail(email_accounts) -> None:
    shipping_notice_send(_shipment_event("shipment.delivered", customer_email=""))
    bad = _shipment_event("shipment.delivered", customer_email="not-an-address")
    shipping_notice_send(bad)
    captured = event_emit(
        name="payment.captured",
        payload={"amount_captured": 100, "currency": "XXX1", "customer_email": "a@b.c"},
    )
    order_confirmation_send(captured)
    # The bad address (mail41) and the missing one (mail41b) are kept failed
    # for staff, never sent.
    kept = EmailMessage.objects.order_by("to_email")
    assert [(m.to_email, m.status, m.error_code) for m in kept] == [
        ("", EmailStatus.FAILED, "invalid_email"),
        ("not-an-address", EmailStatus.FAILED, "invalid_email"),
    ]
    assert not SandboxEmail.objects.exists()
    assert not SandboxEmail.objects.exists()


def test_the_wiring_is_subscribed() -> None:
    from integrations.events import subscribers_for

    assert "notifications.wiring.order_confirmation_send" in subscribers_for(
        "payment.captured"
    )
    assert "inventory.services.reservations_confirm_for_order" in subscribers_for(
        "payment.captured"
    )
    for name in ("shipment.label_created", "shipment.delivered"):
        assert "notifications.wiring.shipping_notice_send" in subscribers_for(name)
    assert "notifications.wiring.shipping_notice_send" not in subscribers_for(
        "shipment.tracking_updated"
    )
