"""Email delivery webhooks whose stored payload can never be read go dead
at once with their error (UnprocessableEvent), instead of being retried
until dead; a failure after the payload was read (the database, our own
code) still retries."""

import pytest
from django.db import OperationalError

from integrations.models import WebhookEvent, WebhookStatus
from integrations.webhooks.services import webhook_event_process
from notifications import webhooks
from tests.factories import ProviderAccountFactory, WebhookEventFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 8
    settings.SWITCHYARD_EVENT_SUBSCRIBERS = {}


@pytest.fixture
def sandbox():
    return ProviderAccountFactory(kind="email", slug="mail-revmail")


def _process(account, data) -> WebhookEvent:
    event = WebhookEventFactory(
        account=account,
        event_type="email.bounced",
        payload={"type": "email.bounced", "data": data},
    )
    webhook_event_process(event_id=event.pk)
    event.refresh_from_db()
    return event


@pytest.mark.parametrize(
    "data",
    [
        ["not", "an", "object"],  # data must be an object
        {"recipient": "a@example.com", "bounce_type": "sideways"},  # no such kind
    ],
)
def test_sandbox_event_with_unreadable_data_is_dead_at_once(sandbox, data):
    event = _process(sandbox, data)
    assert (event.status, event.attempts, event.next_attempt_at) == (
        WebhookStatus.DEAD,
        1,
        None,
    )
    assert event.last_error.startswith("Not retried")
    assert "email event unreadable" in event.last_error


def test_database_error_after_reading_still_retries(sandbox, monkeypatch):
    def unavailable(**kwargs):
        raise OperationalError("could not serialize access")

    monkeypatch.setattr(webhooks, "email_address_event_apply", unavailable)
    event = _process(sandbox, {"recipient": "a@example.com", "bounce_type": "hard"})
    assert (event.status, event.attempts) == (WebhookStatus.FAILED, 1)
    assert event.next_attempt_at is not None
    assert "OperationalError" in event.last_error


def test_our_own_value_error_after_reading_still_retries(sandbox, monkeypatch):
    def buggy(**kwargs):
        raise ValueError("a bug of ours")

    monkeypatch.setattr(webhooks, "email_address_event_apply", buggy)
    event = _process(sandbox, {"recipient": "a@example.com", "bounce_type": "hard"})
    assert event.status == WebhookStatus.FAILED
    assert not event.last_error.startswith("Not retried")
