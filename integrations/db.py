"""One SQL statement on a hot path, without the ORM's per-call machinery.

The webhook intake writes one row per request and nothing else; at a few
thousand requests a second the ORM's compile step, psycopg's Python-level
cursor machinery and Django's per-request health check (a ``SELECT 1`` round
trip before the first query) cost more CPU than the INSERT itself: measured
under gunicorn, about 250 us of the worker's ~1.1 ms per webhook.
``execute_one`` sends a statement built once by the caller.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections

from integrations import db_libpq
from integrations.commits import connection_for

# The libpq layer (prepared statements, pipelines) lives in db_libpq; bound
# here to the names this module calls (and tests patch).
_execute_libpq = db_libpq.execute_libpq
_execute_pipelined = db_libpq.execute_pipelined
_idle = db_libpq.is_idle
_numbered = db_libpq.numbered
_open_or_idle = db_libpq.open_or_idle
_pipelines = db_libpq.pipelines_supported
_pq = db_libpq.libpq
_rows = db_libpq.load_rows
_transformer = db_libpq.transformer


def execute_one(
    sql: str,
    params: Sequence[Any],
    *,
    using: str = DEFAULT_DB_ALIAS,
    resend: bool = False,
    commit: bool = False,
    conn: Any = None,
) -> tuple[Any, ...] | None:
    """Run one statement; return its first row, or None if it returned none.

    ``sql`` uses ``%s`` placeholders and nothing else that psycopg would
    interpret. ``resend``: the statement is safe to send twice (a read, an
    INSERT ... ON CONFLICT DO NOTHING): outside a transaction, one that failed
    because the pooled connection had died is sent once more on a new
    connection (the first may have committed before the connection dropped,
    so never for a plain INSERT or UPDATE). Django's per-request health check
    is skipped for it.

    On PostgreSQL, with no query logging or execute wrapper in place, the
    statement goes to libpq directly, prepared once per connection (values
    dumped by psycopg's adapters), in autocommit or inside a transaction
    already begun. A transaction's first statement carries psycopg's BEGIN
    in the same round trip, and with ``commit`` (the last statement of an
    atomic block that is the connection's only one: a commit group's end) the
    COMMIT rides after it; Django's own commit then finds nothing open.
    Anywhere else (DEBUG, ``CaptureQueriesContext``, SQLite) it goes through
    Django's cursor. Errors are Django's either way. Inside a transaction
    nothing is retried. ``conn``: ``connections[using]``, if the caller has
    it (a look-up is 7 Python calls; a payment's path makes dozens).
    """
    if conn is None:
        conn = connection_for(using)
    if conn.vendor != "postgresql":
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()
    return _resending(
        conn, resend, lambda: _execute_postgresql(conn, sql, params, commit)
    )


def _resending(conn: Any, resend: bool, run: Any) -> Any:
    """``run()``; once more on a new connection when ``resend`` allows it,
    no transaction is open and the pooled connection had died (not for a
    statement error, which leaves the connection usable)."""
    try:
        return run()
    except (OperationalError, InterfaceError):
        if not resend or conn.in_atomic_block or conn.connection is None:
            raise
        if conn.is_usable():
            raise  # a statement error, not a dead connection
        conn.close()
    return run()


def execute_rows(
    sql: str,
    params: Sequence[Any],
    *,
    using: str = DEFAULT_DB_ALIAS,
    conn: Any = None,
) -> list[tuple[Any, ...]]:
    """``execute_one`` for a read: every row it returns. A read is safe to
    send twice, so one that met a dead pooled connection outside a
    transaction is sent again on a new one (in place of Django's health
    check, which its cursor would have made; a read that worked counts as
    this request's check).

    Values go to PostgreSQL untyped, so each must stand where its column
    gives it a type (``"col" = %s``); ``SELECT %s`` or ``%s IS NULL`` would
    be typed differently than through Django's cursor. ``conn``: as for
    ``execute_one``."""
    if conn is None:
        conn = connection_for(using)
    if conn.vendor != "postgresql":
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    ahead = getattr(conn, "_switchyard_ahead", None)
    rows = ahead.serve(conn, sql, params) if ahead is not None else None
    if rows is None:
        rows = _resending(
            conn, True, lambda: _execute_postgresql(conn, sql, params, many=True)
        )
    conn.health_check_done = True
    return rows


@contextmanager
def reads_ahead(
    statements: Sequence[tuple[str, Sequence[Any]]], *, using: str = DEFAULT_DB_ALIAS
) -> Iterator[None]:
    """Inside, the reads ``statements`` ((sql, params) as ``execute_rows``
    takes them) ride in the round trip of the next transaction's first
    statement, pipelined after it (they see its write), and ``execute_rows``
    answers from their rows when asked for the same SQL with equal values in
    that transaction before any other statement goes out through this module.
    None is sent where that statement does not pipeline (not PostgreSQL,
    queries recorded, not a transaction's first). For reads made first thing:
    a statement sent through Django's cursor in between is not seen, so none
    may write what they read."""
    conn = connection_for(using)
    if conn.vendor != "postgresql" or not statements:
        yield
        return
    previous = getattr(conn, "_switchyard_ahead", None)
    conn._switchyard_ahead = _ReadsAhead(statements)
    try:
        yield
    finally:
        conn._switchyard_ahead = previous


class _ReadsAhead:
    """The reads waiting to be sent, then their results until served."""

    def __init__(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        self.waiting = [(sql, tuple(params)) for sql, params in statements]
        self.block: Any = None  # the atomic block they were read in
        self.hooks: Any = None  # its transaction's list of on-commit hooks
        self.results: list[tuple[str, tuple[Any, ...], Any]] = []

    def take(self) -> list[tuple[str, tuple[Any, ...], bytes]]:
        """The waiting reads that can go direct; then none waits or serves."""
        waiting, self.waiting, self.results = self.waiting, [], []
        if not waiting:
            return []
        numbered = [(sql, params, _numbered(sql)) for sql, params in waiting]
        return [read for read in numbered if read[2] is not None]  # type: ignore[misc]

    def keep(self, conn: Any, reads: list[tuple[Any, ...]], results: list[Any]) -> None:
        """The results of the reads that were sent (None: it was not)."""
        self.block = conn.atomic_blocks[0]
        # Django gives the connection a new list of commit hooks when a
        # transaction ends: an Atomic entered again (a decorator's) is not.
        self.hooks = conn.run_on_commit
        pairs = zip(reads, results, strict=True)
        self.results = [
            (r[0], r[1], result) for r, result in pairs if result is not None
        ]

    def serve(self, conn: Any, sql: str, params: Sequence[Any]) -> Any:
        """The rows of the same read sent ahead, once; None if there are none
        (or their transaction is no longer the one open)."""
        if not self.results:
            return None
        blocks = conn.atomic_blocks
        if (
            not blocks
            or blocks[0] is not self.block
            or conn.run_on_commit is not self.hooks
            or conn.needs_rollback
            or conn.connection is None
            or conn.connection.pgconn.transaction_status
            != _pq().TransactionStatus.INTRANS
        ):
            self.results = []
            return None
        wanted = tuple(params)
        for at, (read_sql, read_params, result) in enumerate(self.results):
            if read_sql == sql and read_params == wanted:
                del self.results[at]
                return _rows(_transformer(conn.connection), result, True)
        return None


def _execute_postgresql(
    conn: Any, sql: str, params: Sequence[Any], commit: bool = False, many: bool = False
) -> Any:
    if conn.connection is None:
        conn.ensure_connection()
    conn.validate_thread_sharing()
    ahead = getattr(conn, "_switchyard_ahead", None)
    # Any statement sent ends what reads_ahead read before it (it may write).
    reads = ahead.take() if ahead is not None else []
    direct = _numbered(sql)
    if direct is None or not _may_go_direct(conn):
        return _execute_cursor(conn, sql, params, many)
    pconn = conn.connection
    begin = conn.in_atomic_block and _idle(pconn)
    ends = commit and _may_commit(conn) and _pipelines()
    if begin and not (_pipelines() and hasattr(pconn, "_get_tx_start_command")):
        return _execute_cursor(conn, sql, params, many)  # the cursor sends BEGIN
    if not begin or ends:
        reads = []  # they ride only in a transaction's first round trip
    with conn.wrap_database_errors:
        if not (begin or ends):
            result, tx = _execute_libpq(pconn, direct, params)
        else:
            # psycopg's own BEGIN (isolation level and all): it then sees a
            # transaction open and sends none.
            before = [pconn._get_tx_start_command()] if begin else []
            after = [b"COMMIT"] if ends else []
            statements = [(direct, params), *[(r[2], r[1]) for r in reads]]
            results, tx = _execute_pipelined(
                pconn, before, statements, after, riders=bool(reads)
            )
            result = results[0]
            if reads:
                ahead.keep(conn, reads, results[1:])
    return _rows(tx, result, many)


def _may_go_direct(conn: Any) -> bool:
    """True when sending the statement past psycopg's cursor changes nothing:
    nobody recording or wrapping queries, and either autocommit with no
    transaction open or an atomic block (its BEGIN, if psycopg has not sent
    it yet, goes with the statement)."""
    # A transaction marked for rollback must fail through Django's cursor
    # (TransactionManagementError), not run statements that then vanish.
    if conn.execute_wrappers or conn.queries_logged or conn.needs_rollback:
        return False
    status = conn.connection.pgconn.transaction_status
    if conn.in_atomic_block:
        return not conn.connection.autocommit and status in _open_or_idle()
    return conn.autocommit and status == _pq().TransactionStatus.IDLE


def _may_commit(conn: Any) -> bool:
    """The statement may end the transaction: one atomic block, no
    savepoint, nothing marked for rollback (Django's exit then commits
    nothing, as psycopg skips COMMIT when no transaction is open)."""
    return (
        conn.in_atomic_block
        and len(conn.atomic_blocks) == 1
        and not conn.savepoint_ids
        and not conn.needs_rollback
    )


def _execute_cursor(
    conn: Any, sql: str, params: Sequence[Any], many: bool = False
) -> Any:
    # A server-side-binding cursor that never prepares: a statement psycopg
    # prepared would have it send DEALLOCATE ALL after a rollback, dropping
    # ours (see ``db_libpq._keeps_statements``); and Django records a prepared
    # statement's SQL as None.
    with conn.wrap_database_errors:
        raw = _unprepared_cursor()(conn.connection)
    wrap = conn.make_debug_cursor if conn.queries_logged else conn.make_cursor
    with wrap(raw) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if many else cursor.fetchone()


@cache
def _unprepared_cursor() -> type:
    from psycopg import Cursor

    class UnpreparedCursor(Cursor):
        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            return super().execute(query, params, **{**kwargs, "prepare": False})

    return UnpreparedCursor


def savepoint_if_nested(using: str | None = None) -> Any:
    """``transaction.atomic()`` inside a transaction (a savepoint, so an
    IntegrityError can be caught and the transaction go on); outside one a
    no-op, as one statement in autocommit is atomic already, and BEGIN and
    COMMIT would cost two more round trips."""
    from contextlib import nullcontext

    from django.db import transaction

    alias = using or "default"
    if connection_for(alias).in_atomic_block:
        return transaction.atomic(using=alias)
    return nullcontext()


def drop_if_busy(using: str = DEFAULT_DB_ALIAS) -> None:
    """Close the connection if a statement's answer is still unread on it.
    psycopg cancels the query for a stop (SIGTERM, Ctrl-C) that lands in its
    wait, not for one raised inside its reading: the next statement would
    fail "another command is already in progress". Django opens another."""
    conn = connections[using]
    if conn.vendor != "postgresql" or conn.connection is None:
        return
    status = _pq().TransactionStatus
    if conn.connection.pgconn.transaction_status in (status.ACTIVE, status.UNKNOWN):
        conn.close()
