"""Shared by the tests of webhooks no retry can fix (misrouted, of an
account this deploy cannot call): the retry settings they run under and
the checks that such an event is stored dead at once."""

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.models import WebhookEvent, WebhookStatus
from integrations.webhooks.services import webhook_event_process, webhook_events_sweep


@pytest.fixture(autouse=True)
def webhook_retry_settings(settings):
    """Imported, it applies to every test of the module."""
    settings.SWITCHYARD_EVENT_SUBSCRIBERS = {}
    settings.WEBHOOK_MAX_ATTEMPTS = 8
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30


def dead_at_once(event: WebhookEvent, caplog, secret: str) -> WebhookEvent:
    """Processes ``event``: dead at its first attempt with a configuration
    error, brought back by nothing, logged once at ERROR, ``secret`` nowhere.
    The row as stored."""
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
    # Nothing brings it back on its own.
    assert webhook_events_sweep(now=now + timedelta(days=1)) == 0
    assert webhook_event_process(event_id=event.pk, now=now) is None

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["webhook event failed"]
    assert errors[0].error == event.last_error
    assert secret not in caplog.text and secret not in event.last_error
    return event
