"""One SQL statement on a hot path, without the ORM's per-call machinery.

The webhook intake writes one row per request and nothing else; at a few
thousand requests a second the ORM's compile step, psycopg's client-side
quoting of every parameter and Django's per-request health check (a
``SELECT 1`` round trip before the first query) cost more CPU than the INSERT
itself. ``execute_one`` sends a statement built once by the caller.
"""

from collections.abc import Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections


def execute_one(
    sql: str, params: Sequence[Any], *, using: str = DEFAULT_DB_ALIAS
) -> tuple[Any, ...] | None:
    """Run one statement; return its first row, or None if it returned none.

    On PostgreSQL the statement goes over a server-side-binding cursor: the
    parameters travel apart from the SQL and psycopg adapts them in C rather
    than quoting each into the text. Django's health check is skipped; instead,
    outside a transaction, a statement that failed because the pooled
    connection had died is sent once more on a new connection. Callers pass
    only statements that are safe to send twice (an INSERT ... ON CONFLICT DO
    NOTHING): the first may have committed before the connection dropped.

    The statement still goes through Django's cursor wrapper, so errors are
    Django's and query logging (DEBUG, ``CaptureQueriesContext``) sees it.
    """
    conn = connections[using]
    if conn.vendor != "postgresql":
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()
    try:
        return _execute_server_bound(conn, sql, params)
    except (OperationalError, InterfaceError):
        if conn.in_atomic_block or conn.connection is None or conn.is_usable():
            raise  # a statement error, or a transaction that is gone anyway
        conn.close()
    return _execute_server_bound(conn, sql, params)


def _execute_server_bound(conn: Any, sql: str, params: Sequence[Any]) -> Any:
    from psycopg import Cursor  # only with the PostgreSQL backend

    conn.ensure_connection()
    conn.validate_thread_sharing()
    with conn.wrap_database_errors:
        raw = Cursor(conn.connection)
    wrap = conn.make_debug_cursor if conn.queries_logged else conn.make_cursor
    with wrap(raw) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()
