"""A webhook of an account this deploy cannot call (its provider dropped from
SWITCHYARD_ADAPTERS, its adapter listed under another kind, its credentials
opened by no configured key: registry.ACCOUNT_UNCALLABLE) fails the same way
on every attempt until the configuration changes: the row is stored dead at
once with a configuration error, as a misrouted event is, not retried."""

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations import registry
from integrations.models import ProviderAccount, WebhookStatus
from integrations.webhooks.services import webhook_event_process, webhook_events_sweep
from tests.factories import ProviderAccountFactory, WebhookEventFactory

pytestmark = pytest.mark.django_db

SECRET = "sbx_live_uncallable_secret_42"


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.SWITCHYARD_EVENT_SUBSCRIBERS = {}
    settings.WEBHOOK_MAX_ATTEMPTS = 8
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30


def _gone(settings, account):
    ProviderAccount.objects.filter(pk=account.pk).update(provider="retired-psp")
    return "UnknownProvider"


def _wrong_kind(settings, account):
    adapters = {
        kind: dict(codes) for kind, codes in settings.SWITCHYARD_ADAPTERS.items()
    }
    adapters["payments"][account.provider] = adapters["shipping"]["sandbox"]
    settings.SWITCHYARD_ADAPTERS = adapters
    return "ImproperlyConfigured"


def reads_credentials(event):
    """A handler that reads its account's credentials (as a provider look-up
    in ``prepare`` does)."""
    registry.get_adapter(event.account).credential("api_key")


def _unreadable(settings, account):
    settings.SWITCHYARD_WEBHOOK_HANDLERS = {
        "payments": {"*": f"{__name__}.reads_credentials"}
    }
    ProviderAccount.objects.filter(pk=account.pk).update(
        credentials_encrypted="gAAAAABnot-a-token-any-key-opens=="
    )
    return "CredentialsDecryptError"


@pytest.mark.parametrize("broken", [_gone, _wrong_kind, _unreadable])
def test_an_event_of_an_uncallable_account_is_dead_at_once(settings, caplog, broken):
    account = ProviderAccountFactory(
        kind="payments",
        provider="sandbox",
        slug="sbx-pay",
        credentials={"api_key": SECRET, "webhook_secret": SECRET},
    )
    event = WebhookEventFactory(account=account, event_type="payment.succeeded")
    error_type = broken(settings, account)
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
    assert error_type in event.last_error
    # Nothing brings it back on its own.
    assert webhook_events_sweep(now=now + timedelta(days=1)) == 0
    assert webhook_event_process(event_id=event.pk, now=now) is None

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["webhook event failed"]
    assert errors[0].error == event.last_error
    assert SECRET not in caplog.text and SECRET not in event.last_error
