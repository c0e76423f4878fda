"""The call log's finished rows, written behind the call.

A provider call's ``ProviderCall`` row is finished after the last attempt: an
INSERT when nothing was pre-written (a GET), else an UPDATE of the row that
holds the idempotency key. That row is telemetry (the key itself was written
durably before the first attempt), so on PostgreSQL outside a caller's
transaction the caller does not wait for it: one background thread per
process writes the rows gathered over ``PROVIDER_CALL_LOG_LINGER_MS`` in one
transaction, committed without waiting for the disk, on its own connection
(closed after ten idle seconds).
That takes a database round trip (0.3-1 ms on a busy 2-core machine) off every
provider call.

What it costs: the row appears up to the linger later (a django-q2 worker
writes its task's rows when the task ends); a process killed with rows
pending loses them (at most one linger window), as a database crash
loses the last relaxed commits; a write that fails is logged and dropped, as
before. ``PROVIDER_CALL_LOG_LINGER_MS`` = 0 writes each row in the call.
"""

import logging
from collections.abc import Sequence
from itertools import groupby
from operator import attrgetter
from typing import Any, NamedTuple

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.dispatch import receiver
from django_q.signals import post_execute_in_worker

from integrations.task_batcher import BackgroundBatcher

logger = logging.getLogger(__name__)

_ROWS_PER_TRIP = 10


def _linger_seconds() -> float:
    return settings.PROVIDER_CALL_LOG_LINGER_MS / 1000


class Statement(NamedTuple):
    """One finished row: ``sql`` with ``params`` (relaxed), or, where
    ``copy`` is given, the same values as one row of that COPY."""

    using: str
    sql: str
    params: list[Any]
    copy: str | None = None


class CallLogWriter(BackgroundBatcher):
    """Writes ``Statement`` items, one transaction per database per batch."""

    def send(self, items: Sequence[Statement]) -> bool:
        ok = True
        for using, group in groupby(items, key=attrgetter("using")):
            ok = self._write(using, list(group)) and ok
        return ok

    def _write(self, using: str, statements: list[Statement]) -> bool:
        conn = connections[using]
        try:
            conn.close_if_unusable_or_obsolete()
            with transaction.atomic(using=using), conn.cursor() as cursor:
                # The batch is telemetry: its commit need not wait for the disk.
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
                for (sql, copy), rows in groupby(statements, key=_kind):
                    params = [row.params for row in rows]
                    _write_rows(conn, cursor, sql, copy, params)
        except DatabaseError:
            logger.exception(
                "provider call log write failed", extra={"count": len(statements)}
            )
            conn.close()  # the next batch starts on a new connection
            return False
        return True

    def on_idle(self) -> None:
        # A quiet process does not keep a second database connection open.
        connections.close_all()


def _kind(statement: Statement) -> tuple[str, str | None]:
    return statement.sql, statement.copy


def _write_rows(
    conn: Any, cursor: Any, sql: str, copy: str | None, rows: list[list[Any]]
) -> None:
    """New rows by COPY (a few microseconds each, so a big batch holds the
    GIL from the threads making calls only briefly); updates a few per round
    trip, each wait for the database letting those threads run."""
    if copy is not None:
        with conn.wrap_database_errors, cursor.cursor.copy(copy) as stream:
            for row in rows:
                stream.write_row(row)
        return
    for start in range(0, len(rows), _ROWS_PER_TRIP):
        cursor.executemany(sql, rows[start : start + _ROWS_PER_TRIP])


writer = CallLogWriter(linger=_linger_seconds, name="call-log", idle_seconds=10.0)


@receiver(post_execute_in_worker, dispatch_uid="call_log_flush_after_task")
def _flush_after_task(**kwargs: Any) -> None:
    # django-q2 ends a worker process with os._exit (recycling, timeouts),
    # which skips the exit flush: a task's rows are written before it can go.
    writer.flush()
