"""A webhook of an account this deploy cannot call (its provider dropped from
SWITCHYARD_ADAPTERS, its adapter listed under another kind, its credentials
opened by no configured key: registry.ACCOUNT_UNCALLABLE) fails the same way
on every attempt until the configuration changes: the row is stored dead at
once with a configuration error, as a misrouted event is, not retried."""

import pytest

from integrations import registry
from integrations.models import ProviderAccount
from tests.factories import ProviderAccountFactory, WebhookEventFactory
from tests.integrations.dead_webhooks import (  # noqa: F401 (autouse fixture)
    dead_at_once,
    webhook_retry_settings,
)

pytestmark = pytest.mark.django_db

SECRET = "sbx_live_uncallable_secret_42"


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
    event = dead_at_once(event, caplog, SECRET)
    assert error_type in event.last_error
