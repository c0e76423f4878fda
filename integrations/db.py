"""One SQL statement on a hot path, without the ORM's per-call machinery.

The webhook intake writes one row per request and nothing else; at a few
thousand requests a second the ORM's compile step, psycopg's Python-level
cursor machinery and Django's per-request health check (a ``SELECT 1`` round
trip before the first query) cost more CPU than the INSERT itself: measured
under gunicorn, about 250 us of the worker's ~1.1 ms per webhook.
``execute_one`` sends a statement built once by the caller.
"""

import hashlib
import re
import select
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache, lru_cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections


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
        conn = connections[using]
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
        conn = connections[using]
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
    conn = connections[using]
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


@cache
def _pipelines() -> bool:
    """libpq's pipeline mode is there (libpq 14 or later; the binary
    package ships one)."""
    from psycopg import Pipeline

    return bool(Pipeline.is_supported())


def _idle(pconn: Any) -> bool:
    return pconn.pgconn.transaction_status == _pq().TransactionStatus.IDLE


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


@cache
def _open_or_idle() -> tuple[Any, ...]:
    status = _pq().TransactionStatus
    return (status.INTRANS, status.IDLE)


def _execute_cursor(
    conn: Any, sql: str, params: Sequence[Any], many: bool = False
) -> Any:
    # A server-side-binding cursor that never prepares: a statement psycopg
    # prepared would have it send DEALLOCATE ALL after a rollback, dropping
    # ours (see ``_keeps_statements``); and Django records a prepared
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


def _execute_libpq(pconn: Any, sql: bytes, params: Sequence[Any]) -> Any:
    """The statement as a named prepared statement on psycopg's connection
    (parsed and planned once per connection: planning an unnamed statement
    cost PostgreSQL 0.1-0.3 ms on each payment statement), or unnamed when
    the connection disables preparing (``prepare_threshold`` None, as behind
    PgBouncer in transaction mode) or may have lost its statements.

    Values are dumped by psycopg's adapters as text (bytes as binary) and
    sent untyped, so PostgreSQL types each from its place in the statement
    (the column it is inserted into): the plan never depends on a value.
    """
    tx = _transformer(pconn)
    values = tx.dump_sequence(params, _formats(params))
    idle = pconn.pgconn.transaction_status == _pq().TransactionStatus.IDLE
    with pconn.lock:
        if not _named(pconn, idle):
            result = pconn.pgconn.exec_params(sql, values, None, tx.formats)
        else:
            result = _exec_prepared(pconn, sql, values, tx.formats, retry=idle)
    _check(pconn, result)
    return result, tx


def _named(pconn: Any, idle: bool) -> bool:
    """Use a named statement. Inside a transaction only while psycopg keeps
    the server's statements: one found deallocated there would abort the
    transaction instead of being prepared again."""
    if pconn.prepare_threshold is None:
        return False
    return idle or _keeps_statements(pconn)


def _keeps_statements(pconn: Any) -> bool:
    """psycopg has never prepared a statement on this connection (our
    cursors never ask it to), so it has never sent the DEALLOCATE ALL it
    follows a rollback with, which would drop ours too."""
    return getattr(getattr(pconn, "_prepared", None), "_prepared_idx", 1) == 0


def _rows(tx: Any, result: Any, many: bool) -> Any:
    """The first row (None if none), or with ``many`` every row."""
    if not result.ntuples:
        return [] if many else None
    tx.set_pgresult(result)
    count = result.ntuples
    rows = tx.load_rows(0, count, tuple) if many else tx.load_row(0, tuple)
    tx.set_pgresult(None)
    return rows


def _execute_pipelined(
    pconn: Any,
    before: list[bytes],
    statements: list[tuple[bytes, Sequence[Any]]],
    after: list[bytes],
    *,
    riders: bool = False,
) -> tuple[list[Any], Any]:
    """The ``statements`` ((sql, params)) with the transaction commands
    ``before`` and ``after`` them, sent in libpq's pipeline mode: one round
    trip for them all (each statement's PREPARE too, the first time on this
    connection); their results in order. A failing command aborts the ones
    after it (a COMMIT never runs after a failed statement); the first error
    is raised. A statement found deallocated in a pipeline that began its
    transaction has it all sent again, that one prepared: nothing else had
    run in that transaction. ``riders``: the statements after the first are
    reads sent ahead, each worth at most itself: one that cannot be sent
    stays behind, and if one fails the first is sent again alone (its result
    None)."""
    tx = _transformer(pconn)
    named = _named(pconn, idle=False)
    sends: list[tuple[Any, ...] | None] = []
    for at, (sql, params) in enumerate(statements):
        try:
            values = tx.dump_sequence(params, _formats(params))
        except Exception:
            if not (riders and at):
                raise
            sends.append(None)  # a value psycopg cannot send (a NUL in text)
            continue
        name = _statement_name(sql) if named else None
        sends.append((sql, values, tx.formats, name))
    with pconn.lock:
        results, answers = _pipeline_passes(pconn, before, sends, after, riders)
    for result in results:
        _check(pconn, result)
    return answers, tx


def _pipeline_passes(
    pconn: Any,
    before: list[bytes],
    sends: list[tuple[Any, ...] | None],
    after: list[bytes],
    riders: bool,
) -> tuple[list[Any], list[Any]]:
    """Every result of the last pass, and each statement's (None: not sent).
    Each pass finds (and forgets) the first name lost, or drops the riders
    after one failed: the statements after it were aborted unrun, and the
    transaction (begun by this pipeline) is rolled back before the next."""
    for _ in range(len(sends) + 1):
        sent = [send for send in sends if send is not None]
        results, places = _pipeline_named(pconn, before, sent, after)
        if before and _name_lost(results, places):
            _check(pconn, pconn.pgconn.exec_(b"ROLLBACK"))
            continue
        if not (riders and before and _rider_failed(results, places)):
            break
        _check(pconn, pconn.pgconn.exec_(b"ROLLBACK"))
        sends = [sends[0], *[None] * (len(sends) - 1)]
    answers = iter(results[at] for at in places)
    return results, [next(answers) if send else None for send in sends]


def _rider_failed(results: list[Any], places: list[int]) -> bool:
    """The first statement ran and a read riding after it (its PREPARE or
    itself) failed."""
    status = _pq().ExecStatus
    if results[places[0]].status not in (status.TUPLES_OK, status.COMMAND_OK):
        return False
    return any(result.status == status.FATAL_ERROR for result in results)


def _name_lost(results: list[Any], places: list[int]) -> bool:
    return any(_sqlstate(results[at]) == _INVALID_STATEMENT_NAME for at in places)


def _pipeline_named(
    pconn: Any, before: list[bytes], sends: list[tuple[Any, ...]], after: list[bytes]
) -> tuple[list[Any], list[int]]:
    """The pipeline's results and each statement's place in them; keeps the
    connection's set of prepared names true to what the server answered."""
    prepared = _prepared(pconn)
    steps = []
    preparing: set[bytes] = set()
    for sql, values, formats, name in sends:
        # A name is prepared once, even if two statements share it.
        prepare = name is not None and name not in prepared and name not in preparing
        if prepare:
            preparing.add(name)
        steps.append((sql, values, formats, name, prepare))
    results = _pipeline(pconn.pgconn, before, steps, after)
    places = []
    at = len(before)
    for _sql, _values, _formats, name, prepare in steps:
        if prepare and results[at].status == _pq().ExecStatus.COMMAND_OK:
            prepared.add(name)
        at += prepare
        if name is not None and _sqlstate(results[at]) == _INVALID_STATEMENT_NAME:
            prepared.discard(name)
        places.append(at)
        at += 1
    return results, places


def _pipeline(
    pg: Any, before: list[bytes], steps: list[tuple[Any, ...]], after: list[bytes]
) -> list[Any]:
    pg.enter_pipeline_mode()
    try:
        for command in before:
            pg.send_query_params(command, None)
        for sql, values, formats, name, prepare in steps:
            if name is None:
                pg.send_query_params(sql, values, None, formats)
                continue
            if prepare:
                pg.send_prepare(name, sql, None)
            pg.send_query_prepared(name, values, formats)
        for command in after:
            pg.send_query_params(command, None)
        pg.pipeline_sync()
        count = len(before) + sum(1 + step[4] for step in steps) + len(after)
        results = _pipeline_results(pg, count)
        pg.exit_pipeline_mode()
    except BaseException:
        # Results left unread: the connection's state is unknown, so it is
        # closed (Django opens another) rather than used again.
        pg.finish()
        raise
    return results


def _pipeline_results(pg: Any, count: int) -> list[Any]:
    """One result per command, then the sync; waits without holding the GIL
    (``poll``: a socket numbered past 1023 is fine, unlike ``select``)."""
    sync = _pq().ExecStatus.PIPELINE_SYNC
    while pg.flush():
        # libpq's rule in nonblocking mode: read what arrives while sending.
        if _wait(pg.socket, writing=True) & select.POLLIN:
            pg.consume_input()
    results: list[Any] = []
    while True:
        while pg.is_busy():
            _wait(pg.socket, writing=False)
            pg.consume_input()
        result = pg.get_result()
        if result is None:
            continue  # the end of one command's results
        if result.status == sync:
            break
        results.append(result)
    if len(results) != count:
        raise _pq_error(f"pipeline returned {len(results)} results for {count}")
    return results


def _wait(socket: int, *, writing: bool) -> int:
    """Block until ``socket`` is readable (or writable, when ``writing``);
    the events that came."""
    poller = select.poll()
    poller.register(socket, select.POLLIN | (select.POLLOUT if writing else 0))
    events = 0
    for _fd, happened in poller.poll():
        events |= happened
    return events


def _pq_error(message: str) -> Exception:
    import psycopg

    return psycopg.OperationalError(message)


def _exec_prepared(
    pconn: Any, sql: bytes, values: Any, formats: Any, *, retry: bool = True
) -> Any:
    """Prepared once per connection, then run by name. A statement found
    deallocated behind our back (a DEALLOCATE ALL or DISCARD ALL sent by
    hand) is prepared again with ``retry`` (no transaction open); inside a
    transaction the error stands and the name is forgotten."""
    name = _statement_name(sql)
    prepared = _prepared(pconn)
    for _ in range(2):
        if name not in prepared:
            _check(pconn, pconn.pgconn.prepare(name, sql, None))
            prepared.add(name)
        result = pconn.pgconn.exec_prepared(name, values, formats)
        if _sqlstate(result) != _INVALID_STATEMENT_NAME:
            return result
        prepared.discard(name)
        if not retry:
            break
    return result


def _check(pconn: Any, result: Any) -> None:
    pq = _pq()
    if pconn.pgconn.status != pq.ConnStatus.OK:
        raise _pq_error("the connection to the database was lost")
    if result.status == pq.ExecStatus.FATAL_ERROR:
        from psycopg import errors

        raise errors.error_from_result(result, encoding=pconn.info.encoding)
    if result.status == pq.ExecStatus.PIPELINE_ABORTED:
        return  # a command after a failed one: the failure is raised
    if result.status not in (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK):
        raise _pq_error(f"unexpected result status {result.status}")


_INVALID_STATEMENT_NAME = "26000"


def _sqlstate(result: Any) -> str | None:
    if result.status != _pq().ExecStatus.FATAL_ERROR:
        return None
    state = result.error_field(_pq().DiagnosticField.SQLSTATE)
    return state.decode() if state else None


def _formats(params: Sequence[Any]) -> list[Any]:
    text, binary, binary_types = _format_constants()
    return [binary if type(value) in binary_types else text for value in params]


@cache
def _format_constants() -> tuple[Any, Any, tuple[type, ...]]:
    import psycopg
    from psycopg.adapt import PyFormat

    binary_types = (bytes, bytearray, memoryview, psycopg.Binary)
    return PyFormat.TEXT, PyFormat.BINARY, binary_types


def _transformer(pconn: Any) -> Any:
    """One Transformer per psycopg connection: it caches the dumper and
    loader it picked for each type, which a new one looks up again (~10 us a
    statement). Kept on the connection (it dies with it): a WeakKeyDictionary
    cost two Python calls a statement."""
    try:
        return pconn._switchyard_transformer
    except AttributeError:
        from psycopg.adapt import Transformer

        tx = pconn._switchyard_transformer = Transformer(pconn)
        return tx


def _prepared(pconn: Any) -> set[bytes]:
    """The names of the statements prepared on the psycopg connection (kept
    on it, as the Transformer)."""
    try:
        return pconn._switchyard_prepared  # type: ignore[no-any-return]
    except AttributeError:
        names = pconn._switchyard_prepared = set()
        return names


@cache
def _pq() -> Any:
    from psycopg import pq

    return pq


@lru_cache(maxsize=64)
def _statement_name(sql: bytes) -> bytes:
    digest = hashlib.sha1(sql, usedforsecurity=False).hexdigest()[:20]
    return f"switchyard_{digest}".encode()


_PLACEHOLDER = re.compile(r"%s")


@lru_cache(maxsize=64)
def _numbered(sql: str) -> bytes | None:
    """``%s`` placeholders as ``$1, $2, ...``; None if the SQL holds any
    other ``%`` (a literal or a named placeholder), which only psycopg's own
    parser handles."""
    if "%" in _PLACEHOLDER.sub("", sql):
        return None
    counter = iter(range(1, sql.count("%s") + 1))
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql).encode()


def savepoint_if_nested(using: str | None = None) -> Any:
    """``transaction.atomic()`` inside a transaction (a savepoint, so an
    IntegrityError can be caught and the transaction go on); outside one a
    no-op, as one statement in autocommit is atomic already, and BEGIN and
    COMMIT would cost two more round trips."""
    from contextlib import nullcontext

    from django.db import connections, transaction

    alias = using or "default"
    if connections[alias].in_atomic_block:
        return transaction.atomic(using=alias)
    return nullcontext()
