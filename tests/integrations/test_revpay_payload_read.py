"""payload_read turns only the stored payload's faults into a dead row: what
goes wrong in a call the adapter makes while reading (PayPal looks a refund's
capture up to find its order) is an answer that may differ next time, so the
event is retried, never stored dead at once. A dead row is replayable."""

import json
from pathlib import Path

import pytest
import responses
from django.urls import reverse

from integrations.models import WebhookEvent, WebhookStatus
from integrations.webhooks.services import webhook_event_process
from payments.models import Payment, PaymentStatus
from tests.factories import ProviderAccountFactory, WebhookEventFactory

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "paypal"
BASE = "https://api-m.sandbox.paypal.com"
CAPTURE_URL = f"{BASE}/v2/payments/captures/3C679366HH908993F"
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
    settings.WEBHOOK_MAX_ATTEMPTS = 8
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
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(f"{BASE}/v1/oauth2/token", json=load("oauth_token.json"))
        yield rsps


def refund_event(account) -> WebhookEvent:
    payload = load("event_capture_refunded.json")
    return WebhookEventFactory(
        account=account, event_type=payload["event_type"], payload=payload
    )


def test_a_garbled_answer_to_the_read_back_is_retried_not_dead(paypal, mocked):
    # A proxy's HTML page instead of the capture: the next try may be answered.
    mocked.get(CAPTURE_URL, body="<html>bad gateway</html>", status=200)
    event = refund_event(paypal)

    assert webhook_event_process(event_id=event.pk) == WebhookStatus.FAILED
    event.refresh_from_db()
    assert event.next_attempt_at is not None
    assert not event.last_error.startswith("Not retried")


def test_an_unreadable_read_back_is_retried_not_dead(paypal, mocked):
    # The capture's answer, not the stored payload, is what cannot be read.
    mocked.get(CAPTURE_URL, json=["not", "a", "capture"], status=200)
    event = refund_event(paypal)

    assert webhook_event_process(event_id=event.pk) == WebhookStatus.FAILED


def test_a_malformed_payload_read_without_a_call_is_still_dead_at_once(paypal):
    payload = load("event_capture_refunded.json")
    payload["resource"]["amount"] = {"currency_code": "USD", "value": "4.001"}
    payload["resource"]["supplementary_data"] = {"related_ids": {"order_id": "O-1"}}
    event = WebhookEventFactory(
        account=paypal, event_type=payload["event_type"], payload=payload
    )

    assert webhook_event_process(event_id=event.pk) == WebhookStatus.DEAD


def test_staff_replay_a_dead_row_once_the_cause_is_fixed(
    settings, admin_client, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_ENQUEUE_LINGER_MS = 0
    account = ProviderAccountFactory(slug="sbx-pay")
    payment = Payment.objects.create(
        account=account,
        order_id="order-1",
        provider_reference="ch_replayed",
        status=PaymentStatus.AUTHORIZED,
        amount=1000,
        amount_authorized=1000,
        currency="USD",
    )
    event = WebhookEventFactory(
        account=account,
        event_type="payment.captured",
        payload={"type": "payment.captured", "data": {"amount": 1000}},
    )
    assert webhook_event_process(event_id=event.pk) == WebhookStatus.DEAD

    # The cause fixed (here: the payload put right), staff replay the row.
    WebhookEvent.objects.filter(pk=event.pk).update(
        payload={
            "type": "payment.captured",
            "data": {"reference": "ch_replayed", "amount": 1000},
        }
    )
    url = reverse("admin:integrations_webhookevent_replay", args=[event.pk])
    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert admin_client.post(url).status_code == 302
    event.refresh_from_db()
    assert (event.status, event.attempts) == (WebhookStatus.RECEIVED, 0)
    assert queued  # handed to a worker on commit

    assert webhook_event_process(event_id=event.pk) == WebhookStatus.PROCESSED
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CAPTURED
