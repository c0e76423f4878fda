"""The outbox's order mail to a recipient that is empty or only whitespace:
both are kept the same way, as a ``failed`` message with ``invalid_email``
and our reason in the email log (an email that fails is stored with its
error, never dropped), the delivery done. Before, "" was only logged while
"  " was stored failed. A shipment event's whitespace-only email is no
email: the order's payment's address is used, as for a missing one."""

import pytest

from integrations.events import event_emit
from notifications.models import EmailMessage, EmailStatus
from notifications.wiring import order_confirmation_send, shipping_notice_send
from payments.services import payment_create
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch) -> None:
    from integrations import events

    monkeypatch.setattr(events, "_enqueue", lambda *args, **kwargs: None)


@pytest.mark.parametrize("email", ["", "  ", None])
def test_a_blank_recipient_is_stored_failed(email_accounts, email) -> None:
    event = event_emit(
        name="payment.captured",
        payload={
            "order_id": "o-41b",
            "payment_id": "pay_41b",
            "amount_captured": 4200,
            "currency": "EUR",
            "customer_email": email,
        },
    )

    order_confirmation_send(event)
    order_confirmation_send(event)  # delivered again: the same message

    message = EmailMessage.objects.get()
    assert (message.status, message.error_code) == (
        EmailStatus.FAILED,
        "invalid_email",
    )
    assert (message.to_email, message.order_id) == ("", "o-41b")
    assert "recipient" in message.last_error
    assert message.events.filter(type=EmailStatus.FAILED).count() == 1


def test_a_shipment_with_a_blank_email_uses_the_orders_payment(
    email_accounts,
) -> None:
    ProviderAccountFactory(kind="payments", slug="pay-sbx")
    payment_create(
        order_id="o-78",
        amount=100,
        currency="USD",
        source_token="tok_success",
        capture=False,
        idempotency_key="pay-41b",
        customer_email="grace@example.com",
    )
    event = event_emit(
        name="shipment.label_created",
        payload={"shipment": "shp_1", "order_id": "o-78", "customer_email": "  "},
        subject="shp_1",
    )

    shipping_notice_send(event)

    assert EmailMessage.objects.get().to_email == "grace@example.com"
