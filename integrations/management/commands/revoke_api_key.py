"""Revoke a storefront API key by its prefix (shown in the admin) or by the
whole key ``create_api_key`` printed: an operator revoking a leaked key
pastes what leaked. The key itself is never printed back. Given as ``-``,
the key is read from standard input (piped, or typed without echo), so it
stays out of shell history and the process list."""

import getpass
import hmac
import sys
from typing import IO, Any

from django.core.management.base import CommandError, CommandParser

from integrations.api.services import api_key_revoke
from integrations.management.arguments import NOT_TEXT, TextArgumentsCommand
from integrations.models import ApiKey
from integrations.models.api import KEY_PREFIX, hash_secret

# The prefix column's width: anything longer is not a prefix and, being
# possibly a secret, is not echoed.
PREFIX_MAX_LENGTH = ApiKey._meta.get_field("prefix").max_length
# A whole key is about 60 characters; more on stdin is not one key.
STDIN_MAX_CHARS = 1024
FROM_STDIN = "-"


class Command(TextArgumentsCommand):
    help = "Revoke an API key: requests with it get 401 from now on."
    # call_command(..., stdin=...) in tests, as Django's createsuperuser.
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "key",
            help="The key's prefix, as the admin lists it, or the whole key "
            "(sy_<prefix>_<secret>) as create_api_key printed it; '-' reads it "
            "from standard input (kept out of shell history).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        given = options["key"]
        if given == FROM_STDIN:
            given = key_from_stdin(options.get("stdin") or sys.stdin)
        api_key, prefix = _api_key(given.strip())
        if api_key_revoke(api_key=api_key):
            self.stdout.write(
                self.style.SUCCESS(f"Revoked API key '{api_key.name}' ({prefix}).")
            )
        else:
            self.stdout.write(
                f"API key '{api_key.name}' ({prefix}) was already revoked at "
                f"{api_key.revoked_at:%Y-%m-%d %H:%M:%S %Z}."
            )


def key_from_stdin(stream: IO[str] | None) -> str:
    """The one key (or prefix) on ``stream``: typed without echo at a
    terminal, else read to its end. CommandError, without the text, for none,
    several or what is not text."""
    if stream is None:  # started with standard input closed (``<&-``)
        raise CommandError(_NO_KEY)
    if stream.isatty():
        try:
            text = getpass.getpass("API key or prefix (not shown): ")
        except EOFError:  # Ctrl-D at the prompt
            raise CommandError(_NO_KEY) from None
    else:
        raw: str | bytes = getattr(stream, "buffer", stream).read(STDIN_MAX_CHARS + 1)
        try:
            # utf-8-sig: Notepad and PowerShell save UTF-8 with a byte-order mark.
            text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError:
            raise CommandError(_NOT_TEXT) from None
    text = text.removeprefix(BOM)  # a text stream decoded without utf-8-sig
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise CommandError(_NO_KEY)
    if len(lines) > 1 or len(text) > STDIN_MAX_CHARS:
        raise CommandError(
            "One key a line: standard input holds more than one; nothing revoked."
        )
    if NOT_TEXT.search(lines[0]):
        raise CommandError(_NOT_TEXT)
    return lines[0]


_NOT_TEXT = "The key on standard input is not text (UTF-8 expected); nothing revoked."
_NO_KEY = "No key on standard input: pipe in the key or its prefix; nothing revoked."
BOM = "\ufeff"


def _api_key(given: str) -> tuple[ApiKey, str]:
    """The key ``given`` names and its prefix; CommandError if none. A whole
    key must match the stored hash: a mistyped secret revokes nothing."""
    whole = None
    prefix = given
    if given.startswith(f"{KEY_PREFIX}_"):
        parts = given.split("_", 2)
        prefix = parts[1]
        whole = given if len(parts) == 3 else None
    shown = f"'{prefix}'" if len(prefix) <= PREFIX_MAX_LENGTH else "(too long)"
    api_key = ApiKey.objects.filter(prefix=prefix).first()
    if api_key is None:
        raise CommandError(f"No API key with prefix {shown}.")
    if whole is not None and not hmac.compare_digest(
        api_key.key_hash, hash_secret(whole)
    ):
        raise CommandError(
            f"The key given is not API key '{api_key.name}' ({prefix}) as "
            "stored (mistyped or cut short?); nothing revoked. Give the prefix "
            "alone to revoke that key."
        )
    return api_key, prefix
