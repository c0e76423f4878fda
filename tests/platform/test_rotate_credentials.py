from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from integrations import crypto
from integrations.crypto import CredentialsDecryptError
from integrations.models import ProviderAccount

pytestmark = pytest.mark.django_db

OLD = crypto.generate_key()
NEW = crypto.generate_key()
CREDS = {"api_key": "sbx_rotate_me", "webhook_secret": "whsec_1"}


def _account(slug: str, credentials: dict | None = CREDS) -> ProviderAccount:
    account = ProviderAccount(
        kind="payments", provider="sandbox", slug=slug, display_name=slug
    )
    if credentials:
        account.set_credentials(credentials)
    account.save()
    return account


def test_rotate_then_old_key_can_be_dropped():
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[OLD]):
        first, second = _account("a"), _account("b")
        _account("no-creds", credentials=None)
        before = first.credentials_encrypted

    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[NEW, OLD]):
        out = StringIO()
        call_command("rotate_credentials", stdout=out)
        assert "2 account(s)" in out.getvalue()

    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[NEW]):
        for account in (first, second):
            account.refresh_from_db()
            assert account.get_credentials() == CREDS
        assert first.credentials_encrypted != before
        assert ProviderAccount.objects.get(slug="no-creds").credentials_encrypted == ""


def test_without_rotation_the_old_key_is_still_needed():
    # Proves the test above is meaningful: dropping the key too early fails.
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[OLD]):
        account = _account("a")
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[NEW]):
        account.refresh_from_db()
        with pytest.raises(CredentialsDecryptError):
            account.get_credentials()


def test_unreadable_row_rolls_back_every_row():
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[OLD]):
        readable = _account("a-readable")
        before = readable.credentials_encrypted
    lost_key = crypto.generate_key()
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[lost_key]):
        _account("z-unreadable")

    with (
        override_settings(CREDENTIALS_ENCRYPTION_KEYS=[NEW, OLD]),
        pytest.raises(CommandError, match="nothing was changed"),
    ):
        call_command("rotate_credentials", stdout=StringIO())
    readable.refresh_from_db()
    assert readable.credentials_encrypted == before
