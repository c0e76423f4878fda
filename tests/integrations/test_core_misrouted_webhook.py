"""A webhook routed to another kind's handler (SWITCHYARD_WEBHOOK_HANDLERS, or
an adapter's ``webhook_handler``, names the wrong one) is a configuration
error no retry can fix: the row is stored dead at once with an error that
says what is misrouted, logged once at ERROR, and without secrets."""

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.models import WebhookStatus
from integrations.webhooks.services import webhook_event_process, webhook_events_sweep
from tests.factories import ProviderAccountFactory, WebhookEventFactory

pytestmark = pytest.mark.django_db

SECRET = "sbx_live_misrouted_secret_42"
HANDLERS = {
    "payments": "payments.webhooks.payment_webhook_handle",
    "shipping": "shipping.webhooks.tracking_webhook_handle",
    "inventory": "inventory.webhooks.inventory_webhook_handle",
    "email": "notifications.webhooks.email_webhook_handle",
}
# (the account's kind, the other kind whose handler it is routed to)
MISROUTES = [
    ("shipping", "payments"),
    ("payments", "shipping"),
    ("payments", "inventory"),
    ("payments", "email"),
]


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.SWITCHYARD_EVENT_SUBSCRIBERS = {}
    settings.WEBHOOK_MAX_ATTEMPTS = 8
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30


def _misrouted(settings, kind: str, handler_kind: str):
    settings.SWITCHYARD_WEBHOOK_HANDLERS = {kind: {"*": HANDLERS[handler_kind]}}
    account = ProviderAccountFactory(
        kind=kind,
        slug=f"sbx-{kind}",
        credentials={"api_key": SECRET, "webhook_secret": SECRET},
    )
    return WebhookEventFactory(account=account, event_type="inventory.updated")


@pytest.mark.parametrize(("kind", "handler_kind"), MISROUTES)
def test_a_misrouted_event_is_dead_at_once(settings, caplog, kind, handler_kind):
    event = _misrouted(settings, kind, handler_kind)
    now = timezone.now()
    caplog.set_level(logging.INFO)

    assert webhook_event_process(event_id=event.pk, now=now) == WebhookStatus.DEAD
    event.refresh_from_db()
    assert (event.status, event.attempts, event.next_attempt_at) == (
        WebhookStatus.DEAD,
        1,
        None,
    )
    assert event.last_error.startswith("Not retried (configuration error")
    assert HANDLERS[handler_kind] in event.last_error
    assert f"'{kind}'" in event.last_error and "sbx-" + kind in event.last_error
    assert "SWITCHYARD_WEBHOOK_HANDLERS" in event.last_error
    # Nothing brings it back on its own.
    assert webhook_events_sweep(now=now + timedelta(days=1)) == 0
    assert webhook_event_process(event_id=event.pk, now=now) is None

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["webhook event failed"]
    assert errors[0].error == event.last_error
    assert SECRET not in caplog.text and SECRET not in event.last_error
