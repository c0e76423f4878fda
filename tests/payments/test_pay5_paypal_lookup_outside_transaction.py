"""PayPal's refund and dispute webhooks name a capture, not the order we keep:
the capture is looked up at PayPal before the handler's transaction (the
processing's ``prepare``), so a slow PayPal holds no transaction and no row
lock. A failed look-up is still retried, never stored dead."""

import json
from pathlib import Path

import pytest
import responses
from django.db import connection

from integrations.models import WebhookStatus
from integrations.webhooks.services import webhook_event_process
from payments.models import DisputeStatus, Payment, PaymentStatus
from tests.factories import ProviderAccountFactory, WebhookEventFactory

pytestmark = pytest.mark.django_db(transaction=True)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "paypal"
BASE = "https://api-m.sandbox.paypal.com"
CAPTURE_URL = f"{BASE}/v2/payments/captures/3C679366HH908993F"
ORDER_ID = "5O190127TN364715T"  # capture.json's order
FAST = {
    "max_attempts": 1,
    "backoff_base_seconds": 0.001,
    "backoff_cap_seconds": 0.001,
    "breaker_consecutive_failures": 50,
    "webhook_id": "1JE4291016473214C",
}


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(autouse=True)
def _handlers(settings):
    settings.SWITCHYARD_EVENT_SUBSCRIBERS = {}
    settings.SWITCHYARD_WEBHOOK_HANDLERS = {
        "payments": {"*": "payments.webhooks.payment_webhook_handle"}
    }


@pytest.fixture
def paypal():
    return ProviderAccountFactory(
        provider="paypal",
        slug="paypal-main",
        settings=dict(FAST),
        credentials={"client_id": "client-id", "client_secret": "client-secret"},
    )


@pytest.fixture
def payment(paypal) -> Payment:
    return Payment.objects.create(
        account=paypal,
        order_id="order-1",
        provider_reference=ORDER_ID,
        status=PaymentStatus.CAPTURED,
        amount=1_050,
        amount_authorized=1_050,
        amount_captured=1_050,
        currency="USD",
    )


@pytest.fixture
def capture_lookups():
    """PayPal's capture, answered while noting whether a transaction was
    open at the time of each call."""
    in_transaction: list[bool] = []

    def answer(request):
        in_transaction.append(connection.in_atomic_block)
        return (
            200,
            {"Content-Type": "application/json"},
            json.dumps(load("capture.json")),
        )

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(f"{BASE}/v1/oauth2/token", json=load("oauth_token.json"))
        rsps.add_callback(responses.GET, CAPTURE_URL, callback=answer)
        yield in_transaction


def _event(account, fixture: str):
    payload = load(fixture)
    return WebhookEventFactory(
        account=account, event_type=payload["event_type"], payload=payload
    )


def test_a_refund_events_capture_is_looked_up_with_no_transaction_open(
    paypal, payment, capture_lookups
):
    event = _event(paypal, "event_capture_refunded.json")

    assert webhook_event_process(event_id=event.pk) == WebhookStatus.PROCESSED

    assert capture_lookups == [False]
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == (
        PaymentStatus.PARTIALLY_REFUNDED,
        400,
    )


def test_a_dispute_events_capture_is_looked_up_with_no_transaction_open(
    paypal, payment, capture_lookups
):
    event = _event(paypal, "event_dispute_created.json")

    assert webhook_event_process(event_id=event.pk) == WebhookStatus.PROCESSED

    assert capture_lookups == [False]
    payment.refresh_from_db()
    assert payment.dispute_status == DisputeStatus.OPEN


def test_a_failed_look_up_is_retried_then_applied(paypal, payment):
    event = _event(paypal, "event_capture_refunded.json")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(f"{BASE}/v1/oauth2/token", json=load("oauth_token.json"))
        rsps.get(CAPTURE_URL, body="<html>bad gateway</html>", status=200)
        assert webhook_event_process(event_id=event.pk) == WebhookStatus.FAILED
    event.refresh_from_db()
    assert event.next_attempt_at is not None
    assert not event.last_error.startswith("Not retried")
    payment.refresh_from_db()
    assert payment.amount_refunded == 0

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(f"{BASE}/v1/oauth2/token", json=load("oauth_token.json"))
        rsps.get(CAPTURE_URL, json=load("capture.json"))
        assert webhook_event_process(event_id=event.pk) == WebhookStatus.PROCESSED
    payment.refresh_from_db()
    assert payment.amount_refunded == 400
