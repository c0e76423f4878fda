"""inv38: ``sync_inventory``'s closing summary left out every run that
failed (credentials that cannot be read, a crash): only its error line stood
in for it, so the table read as if the account had not been synced at all.
A failed run now has its row (status ``failed``) and its error code under
it, like any other run; the exit status stays non-zero and the one readable
line per failed account is kept."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from integrations import crypto
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db

OLD = crypto.generate_key()
NEW = crypto.generate_key()


def _broken(slug: str):
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[OLD]):
        return ProviderAccountFactory(kind="inventory", slug=slug)


def _sync(*args: str) -> tuple[str, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with (
        override_settings(CREDENTIALS_ENCRYPTION_KEYS=[NEW]),
        pytest.raises(CommandError) as raised,
    ):
        call_command("sync_inventory", *args, stdout=out, stderr=err)
    return str(raised.value), out.getvalue(), err.getvalue()


def _row(out: str, slug: str) -> list[str]:
    return next(line.split() for line in out.splitlines() if line.startswith(slug))


def test_a_failed_account_has_its_row_in_the_summary():
    _broken("erp-broken")

    message, out, _err = _sync("--account", "erp-broken")

    assert "account" in out and "status" in out  # the table was printed
    assert _row(out, "erp-broken")[:2] == ["erp-broken", "failed"]
    assert "the run: credentials_unreadable" in out
    assert "cannot be decrypted" in message and "\n" not in message


def test_every_account_has_its_row_failed_or_not():
    _broken("erp-broken")
    with override_settings(CREDENTIALS_ENCRYPTION_KEYS=[NEW]):
        ProviderAccountFactory(kind="inventory", slug="erp-good")

    message, out, err = _sync()

    assert _row(out, "erp-broken")[1] == "failed"
    assert _row(out, "erp-good")[1] == "succeeded"
    lines = [x for x in (out + err).splitlines() if "cannot be decrypted" in x]
    assert len(lines) == 1 and lines[0].startswith("erp-broken: ")
    assert "erp-broken" in message
