"""The libpq layer under ``integrations.db``: statements prepared once per
connection and run by name, pipelines of several statements in one round
trip, and the results loaded as psycopg loads them.

Everything here works on psycopg's connection (``pconn``) and its libpq
connection (``pconn.pgconn``); ``integrations.db`` decides when a statement
may take this path (nobody recording queries, the transaction state right)
and maps errors to Django's.
"""

import hashlib
import re
import select
from collections.abc import Sequence
from functools import cache, lru_cache
from typing import Any


@cache
def pipelines_supported() -> bool:
    """libpq's pipeline mode is there (libpq 14 or later; the binary
    package ships one)."""
    from psycopg import Pipeline

    return bool(Pipeline.is_supported())


def is_idle(pconn: Any) -> bool:
    return pconn.pgconn.transaction_status == libpq().TransactionStatus.IDLE


@cache
def open_or_idle() -> tuple[Any, ...]:
    status = libpq().TransactionStatus
    return (status.INTRANS, status.IDLE)


def execute_libpq(pconn: Any, sql: bytes, params: Sequence[Any]) -> Any:
    """The statement as a named prepared statement on psycopg's connection
    (parsed and planned once per connection: planning an unnamed statement
    cost PostgreSQL 0.1-0.3 ms on each payment statement), or unnamed when
    the connection disables preparing (``prepare_threshold`` None, as behind
    PgBouncer in transaction mode) or may have lost its statements.

    Values are dumped by psycopg's adapters as text (bytes as binary) and
    sent untyped, so PostgreSQL types each from its place in the statement
    (the column it is inserted into): the plan never depends on a value.
    """
    tx = transformer(pconn)
    values = tx.dump_sequence(params, _formats(params))
    idle = pconn.pgconn.transaction_status == libpq().TransactionStatus.IDLE
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


def load_rows(tx: Any, result: Any, many: bool) -> Any:
    """The first row (None if none), or with ``many`` every row."""
    if not result.ntuples:
        return [] if many else None
    tx.set_pgresult(result)
    count = result.ntuples
    rows = tx.load_rows(0, count, tuple) if many else tx.load_row(0, tuple)
    tx.set_pgresult(None)
    return rows


def execute_pipelined(
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
    tx = transformer(pconn)
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
    status = libpq().ExecStatus
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
        if prepare and results[at].status == libpq().ExecStatus.COMMAND_OK:
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
    sync = libpq().ExecStatus.PIPELINE_SYNC
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
    pq = libpq()
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
    if result.status != libpq().ExecStatus.FATAL_ERROR:
        return None
    state = result.error_field(libpq().DiagnosticField.SQLSTATE)
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


def transformer(pconn: Any) -> Any:
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
def libpq() -> Any:
    from psycopg import pq

    return pq


@lru_cache(maxsize=64)
def _statement_name(sql: bytes) -> bytes:
    digest = hashlib.sha1(sql, usedforsecurity=False).hexdigest()[:20]
    return f"switchyard_{digest}".encode()


_PLACEHOLDER = re.compile(r"%s")


@lru_cache(maxsize=64)
def numbered(sql: str) -> bytes | None:
    """``%s`` placeholders as ``$1, $2, ...``; None if the SQL holds any
    other ``%`` (a literal or a named placeholder), which only psycopg's own
    parser handles."""
    if "%" in _PLACEHOLDER.sub("", sql):
        return None
    counter = iter(range(1, sql.count("%s") + 1))
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql).encode()
