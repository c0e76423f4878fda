"""``revoke_api_key`` takes the whole key ``create_api_key`` printed, not
only its prefix: an operator revoking a leaked key pastes what leaked. A
whole key must match the stored hash; the key is never printed back."""

import sys
from io import BytesIO, StringIO, TextIOWrapper
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from integrations.models import ApiKey
from tests.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db


def _revoke(given: str) -> str:
    out, err = StringIO(), StringIO()
    call_command("revoke_api_key", given, stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


def test_revoke_api_key_takes_the_key_it_printed():
    key = ApiKeyFactory()
    shown = _revoke(key.raw_key)
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
    assert f"({key.prefix})" in shown and key.raw_key not in shown
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    assert client.get("/api/v1/me/").json()["error"]["code"] == "api_key_revoked"
    assert "already revoked" in _revoke(f"  {key.raw_key}\n")


def test_the_printed_key_from_create_api_key_is_taken():
    out = StringIO()
    call_command(
        "create_api_key",
        "--name",
        "shop",
        "--scopes",
        "email:send",
        stdout=out,
        stderr=StringIO(),
    )
    printed = out.getvalue().strip()
    assert "Revoked API key 'shop'" in _revoke(printed)
    assert ApiKey.objects.get().revoked_at is not None


def test_a_whole_key_whose_secret_does_not_match_revokes_nothing():
    key = ApiKeyFactory()
    last = "A" if key.raw_key[-1] != "A" else "B"
    wrong = key.raw_key[:-1] + last
    with pytest.raises(CommandError) as caught:
        _revoke(wrong)
    message = str(caught.value)
    assert "nothing revoked" in message and key.prefix in message
    # sy_<prefix>_<secret>: the secret may itself hold "_".
    assert wrong.split("_", 2)[2] not in message
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None


def test_an_unknown_whole_key_names_only_its_prefix():
    with pytest.raises(CommandError) as caught:
        _revoke("sy_0123456789ab_" + "s" * 43)
    assert str(caught.value) == "No API key with prefix '0123456789ab'."


def test_a_long_unknown_value_is_not_echoed():
    secret = "x" * 60
    with pytest.raises(CommandError) as caught:
        _revoke(secret)
    assert secret not in str(caught.value)


def test_sy_and_the_prefix_alone_is_the_prefix():
    key = ApiKeyFactory()
    _revoke(f"sy_{key.prefix}")
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None


def _revoke_from_stdin(typed: str) -> str:
    out, err = StringIO(), StringIO()
    call_command("revoke_api_key", "-", stdin=StringIO(typed), stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


def test_the_key_can_come_on_stdin_and_stay_out_of_shell_history():
    key = ApiKeyFactory()
    shown = _revoke_from_stdin(f"{key.raw_key}\n")
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
    assert f"({key.prefix})" in shown and key.raw_key not in shown


def test_a_prefix_on_stdin_revokes_too():
    key = ApiKeyFactory()
    _revoke_from_stdin(f"  {key.prefix}  \n")
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("", "No key on standard input"),
        ("\n  \n", "No key on standard input"),
        ("sy_a_b\nsy_c_d\n", "One key a line"),
        ("abc\x00\n", "not text"),
    ],
)
def test_bad_stdin_is_one_readable_error_and_revokes_nothing(typed, said):
    key = ApiKeyFactory()
    with pytest.raises(CommandError) as caught:
        _revoke_from_stdin(typed)
    assert said in str(caught.value)
    assert "\n" not in str(caught.value)
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None


@pytest.mark.parametrize("as_bytes", [True, False], ids=["piped", "text"])
def test_a_key_saved_with_a_utf8_byte_order_mark_is_revoked(as_bytes):
    # Notepad and PowerShell's UTF8 encoding save the file with a BOM.
    key = ApiKeyFactory()
    typed = "\ufeff" + key.raw_key + "\r\n"
    stream = TextIOWrapper(BytesIO(typed.encode())) if as_bytes else StringIO(typed)
    call_command("revoke_api_key", "-", stdin=stream, stdout=StringIO())
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None


class _Terminal(StringIO):
    def isatty(self) -> bool:
        return True


def test_ctrl_d_at_the_hidden_prompt_is_one_readable_error():
    key = ApiKeyFactory()
    with (
        mock.patch("getpass.getpass", side_effect=EOFError),
        pytest.raises(CommandError) as caught,
    ):
        call_command("revoke_api_key", "-", stdin=_Terminal())
    assert "No key on standard input" in str(caught.value)
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None


def test_a_closed_stdin_is_one_readable_error(monkeypatch):
    # Started with ``<&-``: Python sets sys.stdin to None.
    key = ApiKeyFactory()
    monkeypatch.setattr(sys, "stdin", None)
    with pytest.raises(CommandError) as caught:
        call_command("revoke_api_key", "-")
    assert "No key on standard input" in str(caught.value)
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None
