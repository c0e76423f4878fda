"""``rotate_credentials`` re-encrypts the endpoints' signing secrets with the
newest key too, in the same transaction as the accounts: all rows or none."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from integrations import crypto
from integrations.crypto import CredentialsDecryptError
from integrations.models import ProviderAccount
from storefront_hooks import services
from storefront_hooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db

OLD = crypto.generate_key()
NEW = crypto.generate_key()


def _account(slug: str) -> ProviderAccount:
    account = ProviderAccount(
        kind="payments", provider="sandbox", slug=slug, display_name=slug
    )
    account.set_credentials({"api_key": "sbx_rotate_me"})
    account.save()
    return account


def _rotate() -> str:
    out = StringIO()
    call_command("rotate_credentials", stdout=out)
    return out.getvalue()


def test_endpoint_secrets_are_re_encrypted_so_the_old_key_can_go(
    make_endpoint,
) -> None:
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[OLD]):
        first, first_secret = make_endpoint()
        second, second_secret = make_endpoint()
        before = first.secrets_encrypted

    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[NEW, OLD]):
        assert "2 webhook endpoint secret(s)" in _rotate()

    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[NEW]):
        first.refresh_from_db()
        second.refresh_from_db()
        assert first.secrets_encrypted != before
        assert first.signing_secrets() == [first_secret]
        assert second.signing_secrets() == [second_secret]


def test_a_rotation_overlap_keeps_both_secrets(make_endpoint) -> None:
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[OLD]):
        endpoint, old_secret = make_endpoint()
        new_secret = services.endpoint_secret_rotate(endpoint=endpoint)
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[NEW, OLD]):
        _rotate()
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[NEW]):
        endpoint.refresh_from_db()
        assert endpoint.signing_secrets() == [new_secret, old_secret]


def test_an_unreadable_endpoint_changes_no_account_and_no_endpoint(
    make_endpoint,
) -> None:
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[OLD]):
        account = _account("readable")
        readable, _ = make_endpoint()
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[crypto.generate_key()]):
        make_endpoint()  # under a key that is then lost
    stored = {
        "account": account.credentials_encrypted,
        "endpoint": readable.secrets_encrypted,
    }

    with (
        override_settings(CREDENTIALS_ENCRYPTION_KEYS=[NEW, OLD]),
        pytest.raises(CommandError, match="nothing was changed"),
    ):
        _rotate()

    account.refresh_from_db()
    readable.refresh_from_db()
    assert account.credentials_encrypted == stored["account"]
    assert readable.secrets_encrypted == stored["endpoint"]


def test_an_unreadable_account_leaves_the_endpoints_as_they_were(
    make_endpoint,
) -> None:
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[OLD]):
        endpoint, _ = make_endpoint()
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[crypto.generate_key()]):
        _account("unreadable")
    before = endpoint.secrets_encrypted

    with (
        override_settings(CREDENTIALS_ENCRYPTION_KEYS=[NEW, OLD]),
        pytest.raises(CommandError),
    ):
        _rotate()

    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secrets_encrypted == before
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[NEW]):
        endpoint.refresh_from_db()
        with pytest.raises(CredentialsDecryptError):
            endpoint.signing_secrets()
