"""What ``manage.py`` does around every command, ours and Django's: an
argument with a control character, a database that cannot be reached and one
not migrated yet are one line on stderr and exit status 1, never a traceback;
an unknown command is one line (status 1), and so is every command's bad
argument (argparse's status 2), not argparse's usage block.

Imports nothing of the project at module level: manage.py loads it before
Django is set up."""

import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from difflib import get_close_matches
from typing import Any

from django.conf import settings
from django.core.management import (
    BaseCommand,
    CommandError,
    ManagementUtility,
    get_commands,
)
from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
    connections,
)
from django.db.backends.signals import connection_created

# What a driver might quote back of a connection string; the value only is
# masked. A conninfo pair (password=x, password='x y', password="x y"), with
# any prefix (sslpassword=, PGPASSWORD=, db_password=), or a dict's or JSON's
# key ('password': 'x'); a quote left open runs to the end.
PASSWORD_FRAGMENT = re.compile(
    r"""((?:password|(["'])[\w.-]*password\2)\s*(?(2)[=:]|=)\s*)"""
    r"""('(?:[^'\\]|\\.)*(?:'|$)|"(?:[^"\\]|\\.)*(?:"|$)|\S+)""",
    re.I,
)
# A URL's userinfo (scheme://user:password@host): up to its last "@", so a
# password holding one is masked whole.
URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@?#]*:)\S*(?=@)", re.I)
# C0 controls (tab and line feeds pass: a pasted JSON context): no one's
# input, to any command. Lone surrogates (a path that is not UTF-8) are left
# to the commands that store text (integrations.management.arguments).
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# Commands whose first database use happens in a child process (django-q2's
# sentinel, serve's children): there an unreachable database is a traceback,
# or with the Redis broker a worker that runs on doing nothing. Checked first.
CHECK_DATABASE_FIRST = {"qcluster", "serve", "serve_worker"}
# django-q2's cluster: its Redis broker checked before it starts.
WORKERS = {"qcluster", "serve_worker"}
HELP_OPTIONS = {"-h", "--help", "--version"}
# PostgreSQL's code for "relation does not exist".
UNDEFINED_TABLE = "42P01"
# A session the server ended (a restart, a failover, an administrator) or a
# connection broken: class 08 and 57P01-57P03. The driver's own failures (a
# socket closed, a connection refused) have no SQLSTATE.
CONNECTION_LOST = re.compile(r"08[0-9A-Z]{3}|57P0[123]")


def execute(argv: list[str]) -> None:
    try:
        with _connected_aliases() as reached:
            _refuse_odd_arguments(argv)
            _check_database_first(argv)
            execute_from_command_line(argv)
    except (OperationalError, InterfaceError, ProgrammingError) as exc:
        line = _not_migrated(exc) or _unreachable(exc, reached) or _lost(exc, reached)
        if line is None:
            raise  # a statement's fault on a connection that works
        sys.stderr.write(line + "\n")
        sys.exit(1)


def execute_from_command_line(argv: list[str]) -> None:
    """Django's function of that name, run by ``OneLineUtility``."""
    OneLineUtility(argv).execute()


class OneLineUtility(ManagementUtility):
    """What ``execute_from_command_line`` runs, with an unknown command and
    every command's argument errors (Django's and third parties' too, whose
    classes are not ours to change) in one line."""

    def fetch_command(self, subcommand: str) -> BaseCommand:
        commands = get_commands()
        if subcommand not in commands:
            # As Django does: broken settings say their own error first.
            if os.environ.get("DJANGO_SETTINGS_MODULE"):
                settings.INSTALLED_APPS  # noqa: B018
            matches = get_close_matches(subcommand, commands)
            hint = f" (did you mean {matches[0]}?)" if matches else ""
            sys.stderr.write(
                f"{self.prog_name}: unknown command {subcommand!r}{hint} "
                f"(see {self.prog_name} help)\n"
            )
            sys.exit(1)
        command = super().fetch_command(subcommand)
        _one_line_parser(command)
        _quoted_line_broken_arguments(command, self.argv[2:])
        return command


def _one_line_parser(command: BaseCommand) -> None:
    """This command object's parser says its errors in one line (the
    project's OneLineCommand rule, for any command class)."""
    from integrations.management.arguments import one_line_errors

    create = command.create_parser

    def create_parser(prog_name: str, subcommand: str, **kwargs: Any) -> Any:
        return one_line_errors(create(prog_name, subcommand, **kwargs), subcommand)

    command.create_parser = create_parser  # type: ignore[method-assign]


def _quoted_line_broken_arguments(command: BaseCommand, args: list[str]) -> None:
    """What the command writes to stderr quotes an argument holding a line
    break (``migrate``'s "No installed app with label ...") with the break
    escaped, as argparse's errors are: one line. Its own breaks stay."""
    from integrations.management.arguments import LINE_BREAK, quoted_breaks

    # --option=value quotes the value back.
    values = [a.partition("=")[2] if a.startswith("--") else a for a in args]
    broken = sorted({v for v in values if LINE_BREAK.search(v)}, key=len, reverse=True)
    if not broken:
        return
    write = command.stderr.write

    def quoted(msg: str = "", *args: Any, **kwargs: Any) -> None:
        for value in broken:
            msg = msg.replace(value, quoted_breaks(value))
        write(msg, *args, **kwargs)

    command.stderr.write = quoted  # type: ignore[method-assign]


def _refuse_odd_arguments(argv: list[str]) -> None:
    """A control character is refused for every command, Django's included;
    a file name that is not UTF-8 passes (os functions round-trip it)."""
    for position, arg in enumerate(argv[1:], start=1):
        if CONTROL.search(arg):
            sys.stderr.write(
                f"{_program(argv)}: argument {position} holds a control character\n"
            )
            sys.exit(1)


def _check_database_first(argv: list[str]) -> None:
    if _program(argv) not in CHECK_DATABASE_FIRST or HELP_OPTIONS & set(argv[2:]):
        return
    import django
    from django.core.management.base import CommandParser, handle_default_options

    # --settings and --pythonpath as Django reads them, before settings load.
    parser = CommandParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--settings")
    parser.add_argument("--pythonpath")
    try:
        options, _ = parser.parse_known_args(argv[2:])
        handle_default_options(options)
    except CommandError:
        pass  # the command's own parser reports it
    django.setup()
    database_reachable()
    # Not handed to the children: a forked worker must open its own.
    connections["default"].close()
    if _program(argv) in WORKERS:
        from integrations.management.broker_check import broker_usable

        broker_usable()


def database_reachable() -> None:
    """Connect now, so an unreachable database is ``execute``'s one line
    before anything else (a child, a log record) says it another way."""
    connections["default"].ensure_connection()


def _program(argv: list[str]) -> str:
    command = argv[1] if len(argv) > 1 and argv[1].isidentifier() else ""
    return command or "manage.py"


@contextmanager
def _connected_aliases() -> Iterator[set[str]]:
    """The aliases connected to meanwhile: an error after that is a
    statement's, though the command closed its connections when it ended."""
    reached: set[str] = set()

    def note(sender: Any, connection: Any, **kwargs: Any) -> None:
        reached.add(connection.alias)

    connection_created.connect(note, weak=False)
    try:
        yield reached
    finally:
        connection_created.disconnect(note)


def _unreachable(exc: Exception, reached: set[str]) -> str | None:
    """The line for a database never connected to, or None. Built from the
    settings and the driver's first line, with every password it could quote
    masked (``masked``)."""
    connection = connections["default"]
    if connection.connection is not None or connection.alias in reached:
        return None
    params = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"cannot reach the database ({params.get('NAME')}): {error_line(exc)}"
    reason, where = error_line(exc), _where(params)
    return f"cannot reach the database ({where}): {reason} (database {params['NAME']})"


def _lost(exc: Exception, reached: set[str]) -> str | None:
    """The line for a PostgreSQL connection the command had that went away
    (or could not be opened again), or None: a traceback is for a
    statement's own fault (a lock refused, a statement cancelled)."""
    connection = connections["default"]
    if connection.alias not in reached or connection.vendor != "postgresql":
        return None
    # The driver's error (psycopg's all have a sqlstate, None if its own).
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None)
    broken = isinstance(exc, InterfaceError) or (
        isinstance(exc, OperationalError)
        and hasattr(cause, "sqlstate")
        and (sqlstate is None or CONNECTION_LOST.fullmatch(sqlstate))
    )
    if not broken:
        return None
    params = connection.settings_dict
    return (
        f"lost the database connection ({_where(params)}) during the command: "
        f"{error_line(exc)} (database {params['NAME']})"
    )


def _where(params: dict[str, Any]) -> str:
    return f"{params.get('HOST') or 'localhost'}:{params.get('PORT') or 5432}"


def error_line(exc: Exception) -> str:
    """The error's first line, every password it could quote masked."""
    return masked((str(exc).strip().splitlines() or [type(exc).__name__])[0])


def _not_migrated(exc: DatabaseError) -> str | None:
    """The line for a table missing from a database that was reached (migrate
    not run yet), or None. The driver's first line names the table only."""
    cause = exc.__cause__
    missing = getattr(cause, "sqlstate", None) == UNDEFINED_TABLE
    if not missing and not str(exc).startswith("no such table: "):  # SQLite
        return None
    reason = masked((str(exc).strip().splitlines() or [""])[0])
    return (
        f"the database has no table the command needs ({reason}): run manage.py migrate"
    )


def masked(reason: str) -> str:
    """``reason`` with a quoted URL's or conninfo's password masked. The
    configured password is not searched for: libpq never echoes it, and
    masking it where it is a word of libpq's own text ("password
    authentication failed", "/var/run/postgresql/") would spell it out."""
    reason = URL_PASSWORD.sub(r"\1***", reason)
    return PASSWORD_FRAGMENT.sub(r"\1***", reason)
