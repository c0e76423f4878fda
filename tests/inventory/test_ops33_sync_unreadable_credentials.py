"""ops33: ``sync_inventory`` on an account whose credentials no configured
key decrypts (the key they were encrypted with was rotated out of
CREDENTIALS_ENCRYPTION_KEYS) said ``unexpected_error`` (or, once the breaker
had counted those, ``breaker_open``) and nothing of why. It now says, in one
line, which account, that its credentials cannot be decrypted with the
current keys, and how to fix it; exits non-zero; and the run is stored
failed with that error. No secret in any of it."""

import io

import pytest
import responses
from django.core.management import CommandError, call_command
from django.test import override_settings

from integrations import crypto
from integrations.models import ProviderCall
from inventory.models import SyncRun
from tests.inventory.contract import harness_tradegecko as tg

pytestmark = pytest.mark.django_db

OLD = crypto.generate_key()
NEW = crypto.generate_key()


@pytest.fixture
def account():
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[OLD]):
        account = tg.make_account()
    return account


def _sync(slug: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    # Nothing may reach the ERP: with no credentials there is nothing to send.
    with (
        responses.RequestsMock(assert_all_requests_are_fired=False),
        override_settings(CREDENTIALS_ENCRYPTION_KEYS=[NEW]),
        pytest.raises(CommandError) as raised,
    ):
        call_command("sync_inventory", "--account", slug, stdout=out, stderr=err)
    return str(raised.value), out.getvalue() + err.getvalue()


def test_the_command_names_the_account_and_the_fix(account):
    message, printed = _sync(account.slug)

    assert account.slug in message
    assert "cannot be decrypted" in message
    assert "rotate_credentials" in message
    assert "CREDENTIALS_ENCRYPTION_KEYS" in message
    assert "\n" not in message
    for secret in ("contract-token", tg.APP_SECRET, OLD, NEW):
        assert secret not in message
        assert secret not in printed


def test_the_run_is_stored_failed_with_that_error(account):
    _sync(account.slug)

    run = SyncRun.objects.get(account=account)
    assert run.status == "failed"
    assert run.finished_at is not None
    assert [e["code"] for e in run.errors] == ["credentials_unreadable"]
    assert "cannot be decrypted" in run.errors[0]["message"]
    assert "rotate_credentials" in run.errors[0]["message"]
    # Nothing was asked of the ERP, so no breaker counted a failure.
    assert not ProviderCall.objects.filter(account=account).exists()


def test_every_later_run_says_so_too_not_breaker_open(account):
    for _ in range(6):
        message, _printed = _sync(account.slug)
    assert "cannot be decrypted" in message
    assert "breaker" not in message
