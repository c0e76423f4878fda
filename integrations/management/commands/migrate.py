"""Django's ``migrate`` with a lock timeout on PostgreSQL.

A migration that alters a table waits for an ACCESS EXCLUSIVE lock behind
any transaction that touched the table, and every query of the table then
queues behind the migration: one long transaction stops the site. Run from
``manage.py``, a lock not granted within MIGRATION_LOCK_TIMEOUT_MS stops
the migration (rolled back if atomic) in one line; running it again once
the transaction has ended finishes. 0 is no limit, whatever lock_timeout the
database role has. No statement_timeout: a long index build
or backfill holds nobody up and must not be cut short. ``call_command``
(the test database's creation) is Django's own. An unknown app label is
one line ending "(see --help)", exit 2, as every argument error."""

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.commands import migrate
from django.db import DatabaseError, OperationalError, connections
from django.db.backends.signals import connection_created
from psycopg.sql import Composable

from integrations.management.arguments import OneLineCommand, refuse_unknown_apps
from integrations.migration_ops import lock_timeout_text

# PostgreSQL's "lock_not_available": lock_timeout (or NOWAIT) fired.
LOCK_NOT_AVAILABLE = "55P03"
# A NOWAIT lock's message (lock_timeout's: "canceling statement due to lock
# timeout"); an unknown wording keeps the lock timeout's line, as before.
NOWAIT_MESSAGE = "could not obtain lock"
# A CONCURRENTLY build, drop, reindex or detach waits for older transactions,
# holding up no one; cut short, it would fail on any long report (an INVALID
# index left). Its leading words only: a comment or literal naming the word
# is no such statement.
CONCURRENTLY = re.compile(
    r"(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*"
    r"(?:(?:CREATE\s+(?:UNIQUE\s+)?|DROP\s+)INDEX"
    r"|REINDEX\s+(?:\([^)]*\)\s*)?[A-Z]+"
    r"|ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?\S+\s+DETACH\s+PARTITION\s+\S+)"
    r"\s+CONCURRENTLY\b",
    re.IGNORECASE | re.DOTALL,
)
SET_LOCK_TIMEOUT = "SELECT set_config('lock_timeout', %s, false)"


class Command(OneLineCommand, migrate.Command):
    help = migrate.Command.help

    def handle(self, *args: Any, **options: Any) -> str | None:
        if options["app_label"]:
            refuse_unknown_apps(self, "migrate", [options["app_label"]])
        connection = connections[options["database"]]
        timeout = settings.MIGRATION_LOCK_TIMEOUT_MS
        if not (connection.vendor == "postgresql" and self._called_from_command_line):
            return super().handle(*args, **options)
        self.applying: Any = None
        try:
            # 0 is set too: no limit, not the role's or database's own.
            with lock_timeout(connection, timeout):
                return super().handle(*args, **options)
        except OperationalError as exc:
            cause = exc.__cause__
            if getattr(cause, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                raise
            if _refused_at_once(cause):
                # The migration's own NOWAIT: it did not wait at all.
                raise CommandError(self._lock_line(None)) from exc
            if not timeout:
                raise
            raise CommandError(self._lock_line(timeout)) from exc

    def migration_progress_callback(
        self, action: str, migration: Any = None, fake: bool = False
    ) -> None:
        if action in ("apply_start", "unapply_start"):
            self.applying = migration
        elif action in ("apply_success", "unapply_success"):
            self.applying = None  # done: a later wait is not this migration's
        super().migration_progress_callback(action, migration, fake)

    def _lock_line(self, timeout: int | None) -> str:
        """The one line for a lock not granted within ``timeout`` ms, or
        (None) refused at once to a statement that asked with NOWAIT."""
        migration = self.applying
        if migration is None:
            what, undone = "migrate", "stopped"
        else:
            what = f"{migration.app_label}.{migration.name}"
            undone = "rolled back" if migration.atomic else "stopped part way"
        if timeout is None:
            failed = "could not get a lock it asked for without waiting (NOWAIT)"
        else:
            failed = (
                f"could not get a lock within {timeout} ms (MIGRATION_LOCK_TIMEOUT_MS)"
            )
        return (
            f"{what} {failed}: another transaction holds it; "
            f'{undone}, run migrate again (README: "Migrations and locks")'
        )


def _refused_at_once(cause: Any) -> bool:
    """Whether a 55P03 error is a NOWAIT lock's, not lock_timeout's."""
    diag = getattr(cause, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(cause)
    return primary.startswith(NOWAIT_MESSAGE)


@contextmanager
def lock_timeout(connection: Any, timeout: int) -> Iterator[None]:
    """``connection``'s lock_timeout is ``timeout`` ms meanwhile, except for
    CONCURRENTLY statements; the session's own value afterwards."""
    limit, alias = lock_timeout_text(timeout), connection.alias
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('lock_timeout')")
        (before,) = cursor.fetchone()
        cursor.execute(SET_LOCK_TIMEOUT, [limit])
    exempt = _unlimited_when_concurrent(limit)
    others: list[tuple[Any, str]] = []

    # A new session starts without either: a RunPython that closed the
    # connection (the next statement opens another) or uses a thread's own.
    def limit_new(sender: Any, connection: Any, **kwargs: Any) -> None:
        if connection.alias != alias:
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('lock_timeout')")
            (own,) = cursor.fetchone()
            cursor.execute(SET_LOCK_TIMEOUT, [limit])
        if exempt not in connection.execute_wrappers:
            connection.execute_wrappers.append(exempt)
            others.append((connection, own))

    connection_created.connect(limit_new, weak=False)
    try:
        with connection.execute_wrapper(exempt):
            yield
    finally:
        connection_created.disconnect(limit_new)
        for other, own in others:
            _restore_when_next_used(other, exempt, own)
        # A connection broken meanwhile has its own error to tell.
        with suppress(DatabaseError), connection.cursor() as cursor:
            cursor.execute(SET_LOCK_TIMEOUT, [before])


def _restore_when_next_used(connection: Any, exempt: Any, own: str) -> None:
    """``connection`` (another thread's: not to be used from this one) sets
    its session's own lock_timeout back before its next statement, in place
    of ``exempt``: a thread living on must not keep the migration's limit."""

    def done() -> None:
        with suppress(ValueError):
            connection.execute_wrappers.remove(restore)

    def restore(
        execute: Callable[..., Any], sql: Any, params: Any, many: bool, context
    ):
        # Once per transaction (the thread's own SET LOCAL after it holds),
        # again only if a rollback undid it: Django drops ``done`` then.
        if not any(entry[1] is done for entry in connection.run_on_commit):
            with suppress(DatabaseError):
                _set_lock_timeout(context, own)
            if connection.get_autocommit():
                done()
            elif connection.in_atomic_block:
                connection.on_commit(done)
        return execute(sql, params, many, context)

    # One assignment: the owning thread may be reading the list.
    with suppress(ValueError):
        connection.execute_wrappers[connection.execute_wrappers.index(exempt)] = restore


def _unlimited_when_concurrent(limit: str) -> Callable[..., Any]:
    def wrapper(
        execute: Callable[..., Any], sql: Any, params: Any, many: bool, context
    ):
        if not CONCURRENTLY.match(_statement_text(sql, context)):
            return execute(sql, params, many, context)
        _set_lock_timeout(context, "0")
        try:
            return execute(sql, params, many, context)
        finally:
            # In a transaction that failed, its rollback undoes the 0 anyway.
            with suppress(DatabaseError):
                _set_lock_timeout(context, limit)

    return wrapper


def _set_lock_timeout(context: dict[str, Any], value: str) -> None:
    """The SET on a cursor of its own: the wrapped statement's ``execute``
    may be an executemany's (each parameter a row) or a named cursor's."""
    connection = context["connection"]
    with connection.wrap_database_errors:
        connection.connection.execute(SET_LOCK_TIMEOUT, [value])


def _statement_text(sql: Any, context: dict[str, Any]) -> str:
    """The statement as the server gets it: psycopg's composed SQL rendered
    with the connection's quoting, bytes decoded."""
    if isinstance(sql, str):
        return sql
    if isinstance(sql, bytes):
        return sql.decode(errors="replace")
    if isinstance(sql, Composable):
        return sql.as_string(context["connection"].connection)
    return ""
