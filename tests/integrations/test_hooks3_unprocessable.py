"""Incoming webhooks: a row its handler can never process (malformed) is
stored dead at once with its error, visible to staff, not retried; any other
handler error keeps retrying with backoff."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.models import WebhookEvent, WebhookStatus
from integrations.webhooks.errors import UnprocessableEvent
from integrations.webhooks.services import webhook_event_process, webhook_events_sweep
from tests.factories import ProviderAccountFactory, WebhookEventFactory

pytestmark = pytest.mark.django_db

HERE = "tests.integrations.test_hooks3_unprocessable"
calls: list[int] = []


def unprocessable(event: WebhookEvent) -> None:
    calls.append(event.attempts)
    raise UnprocessableEvent("data.amount is not an integer")


def transient(event: WebhookEvent) -> None:
    calls.append(event.attempts)
    raise RuntimeError("downstream unavailable")


@pytest.fixture(autouse=True)
def _settings(settings):
    calls.clear()
    settings.SWITCHYARD_EVENT_SUBSCRIBERS = {}
    settings.WEBHOOK_MAX_ATTEMPTS = 8
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30


def _route(settings, handler: str) -> None:
    settings.SWITCHYARD_WEBHOOK_HANDLERS = {"payments": {"*": f"{HERE}.{handler}"}}


def test_unprocessable_row_is_dead_at_once_with_its_error(settings):
    _route(settings, "unprocessable")
    event = WebhookEventFactory(account=ProviderAccountFactory(slug="sbx-pay"))
    now = timezone.now()

    assert webhook_event_process(event_id=event.pk, now=now) == WebhookStatus.DEAD
    event.refresh_from_db()
    assert (event.status, event.attempts, event.next_attempt_at) == (
        WebhookStatus.DEAD,
        1,
        None,
    )
    assert "UnprocessableEvent: data.amount is not an integer" in event.last_error
    assert event.last_error.startswith("Not retried")
    # Nothing brings it back on its own: not the sweeper, not a new task.
    assert webhook_events_sweep(now=now + timedelta(days=1)) == 0
    assert webhook_event_process(event_id=event.pk, now=now) is None
    assert calls == [1]


def test_transient_error_still_retries(settings):
    _route(settings, "transient")
    event = WebhookEventFactory(account=ProviderAccountFactory(slug="sbx-pay"))
    now = timezone.now()

    assert webhook_event_process(event_id=event.pk, now=now) == WebhookStatus.FAILED
    event.refresh_from_db()
    assert event.next_attempt_at == now + timedelta(seconds=30)
    assert event.last_error == "RuntimeError: downstream unavailable"


def test_staff_see_the_dead_row_and_its_error(settings, admin_client):
    _route(settings, "unprocessable")
    event = WebhookEventFactory(account=ProviderAccountFactory(slug="sbx-pay"))
    webhook_event_process(event_id=event.pk)

    listed = admin_client.get(
        reverse("admin:integrations_webhookevent_changelist"),
        {"status__exact": WebhookStatus.DEAD},
    )
    assert event.dedupe_key in listed.content.decode()
    page = admin_client.get(
        reverse("admin:integrations_webhookevent_change", args=[event.pk])
    )
    assert "data.amount is not an integer" in page.content.decode()


# --- The payments handler (the sandbox adapter reads the payload) ------------


@pytest.fixture
def payments(settings):
    settings.SWITCHYARD_WEBHOOK_HANDLERS = {
        "payments": {"*": "payments.webhooks.payment_webhook_handle"}
    }
    return ProviderAccountFactory(slug="sbx-pay")


@pytest.mark.parametrize(
    "data",
    [
        {"amount": 100},  # no reference
        {"reference": "ch_1", "amount": "1.00"},  # amount not an integer
        {"reference": "", "amount": 100},  # an empty reference finds nothing
    ],
)
def test_malformed_payment_event_is_dead_at_once(payments, data):
    event = WebhookEventFactory(
        account=payments,
        event_type="payment.succeeded",
        payload={"type": "payment.succeeded", "data": data},
    )
    assert webhook_event_process(event_id=event.pk) == WebhookStatus.DEAD
    event.refresh_from_db()
    assert event.attempts == 1
    assert "UnprocessableEvent: payment event" in event.last_error


def test_payment_event_for_a_payment_not_there_yet_is_retried(payments):
    event = WebhookEventFactory(
        account=payments,
        event_type="payment.succeeded",
        payload={"type": "payment.succeeded", "data": {"reference": "ch_later"}},
    )
    assert webhook_event_process(event_id=event.pk) == WebhookStatus.FAILED
    event.refresh_from_db()
    assert "PaymentNotFound" in event.last_error


# --- The shipping handler (Shippo reads a tracking webhook's payload) ---------


@pytest.fixture
def shippo(settings):
    settings.SWITCHYARD_WEBHOOK_HANDLERS = {
        "shipping": {"*": "shipping.webhooks.tracking_webhook_handle"}
    }
    return ProviderAccountFactory(
        kind="shipping",
        provider="shippo",
        slug="shippo-main",
        credentials={"api_token": "shippo_test_x", "webhook_token": "hook-token"},
    )


def test_malformed_tracking_webhook_is_dead_at_once(shippo):
    # ``data`` must be a track object; a list cannot be read, ever.
    event = WebhookEventFactory(
        account=shippo,
        event_type="track_updated",
        payload={"event": "track_updated", "data": [{"tracking_number": "1Z"}]},
    )
    assert webhook_event_process(event_id=event.pk) == WebhookStatus.DEAD
    event.refresh_from_db()
    assert event.attempts == 1
    assert "UnprocessableEvent: tracking webhook unreadable" in event.last_error
