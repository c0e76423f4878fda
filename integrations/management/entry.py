"""What ``manage.py`` does around every command, ours and Django's: an
argument with a control character and a database that cannot be reached are one line
on stderr and exit status 1, never a traceback.

Imports nothing of the project at module level: manage.py loads it before
Django is set up."""

import re
import sys

from django.core.management import execute_from_command_line
from django.db import InterfaceError, OperationalError, connections

# What a driver might quote back of a connection string; the value only is
# masked. A conninfo pair (password=x, password='x y', password="x y") or a
# dict's or JSON's key ('password': 'x'); a quote left open runs to the end.
PASSWORD_FRAGMENT = re.compile(
    r"""((?:\bpassword|(["'])password\2)\s*(?(2)[=:]|=)\s*)"""
    r"""('(?:[^'\\]|\\.)*(?:'|$)|"(?:[^"\\]|\\.)*(?:"|$)|\S+)""",
    re.I,
)
# A URL's userinfo (scheme://user:password@host): up to its last "@", so a
# password holding one is masked whole.
URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@?#]*:)\S*(?=@)", re.I)
# A shorter password is not searched for in the text: masking "1" in
# "127.0.0.1" would hide the address and spell the password out.
MIN_LITERAL_PASSWORD = 8
# C0 controls (tab and line feeds pass: a pasted JSON context): no one's
# input, to any command. Lone surrogates (a path that is not UTF-8) are left
# to the commands that store text (integrations.management.arguments).
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def execute(argv: list[str]) -> None:
    try:
        _refuse_odd_arguments(argv)
        execute_from_command_line(argv)
    except (OperationalError, InterfaceError) as exc:
        line = _unreachable(exc)
        if line is None:
            raise  # a connection that worked and then failed: a real fault
        sys.stderr.write(line + "\n")
        sys.exit(1)


def _refuse_odd_arguments(argv: list[str]) -> None:
    """A control character is refused for every command, Django's included;
    a file name that is not UTF-8 passes (os functions round-trip it)."""
    for position, arg in enumerate(argv[1:], start=1):
        if CONTROL.search(arg):
            sys.stderr.write(
                f"{_program(argv)}: argument {position} holds a control character\n"
            )
            sys.exit(1)


def _program(argv: list[str]) -> str:
    command = argv[1] if len(argv) > 1 and argv[1].isidentifier() else ""
    return command or "manage.py"


def _unreachable(exc: Exception) -> str | None:
    """The line for a database never connected to, or None. Built from the
    settings and the driver's first line, with every password it could quote
    masked (``_masked``)."""
    connection = connections["default"]
    if connection.connection is not None:
        return None
    params = connection.settings_dict
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    reason = _masked(reason, params)
    if connection.vendor == "sqlite":
        return f"cannot reach the database ({params.get('NAME')}): {reason}"
    host = params.get("HOST") or "localhost"
    where = f"{host}:{params.get('PORT') or 5432}"
    return f"cannot reach the database ({where}): {reason} (database {params['NAME']})"


def _masked(reason: str, params: dict) -> str:
    """``reason`` with a quoted URL's or conninfo's password masked, and the
    configured password wherever it stands. Not when the user, database or
    host name holds it: masking it there would hide which database is meant
    and tell the reader the password, which the line shows nowhere else."""
    reason = URL_PASSWORD.sub(r"\1***", reason)
    reason = PASSWORD_FRAGMENT.sub(r"\1***", reason)
    password = str(params.get("PASSWORD") or "")
    shown = [str(params.get(key) or "") for key in ("USER", "NAME", "HOST")]
    if len(password) >= MIN_LITERAL_PASSWORD and not any(
        password in value for value in shown
    ):
        reason = reason.replace(password, "***")
    return reason
