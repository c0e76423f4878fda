"""Writes of a commit group sent together: fewer round trips after a
provider call.

After the call a payment writes the attempt's result, the payment, its outbox
event with the deliveries, and the idempotency response: four statements and
a COMMIT, each a round trip. Inside an ``integrations.commits`` group on
PostgreSQL a write whose result the request does not need at once can wait
(``defer``): it rides as a data-modifying CTE on the group's next statement
sent through ``execute`` (if it wants no result back), or goes with the
others just before the group commits, in one statement. Nothing changes for
anyone else: every write still commits in the same transaction, before the
COMMIT; a group that rolls back drops what waits. Elsewhere (SQLite, a
caller's transaction, a savepoint open) every write runs at once.

Only for writes that no later statement of the same transaction reads or
writes again (PostgreSQL runs a statement's CTEs on one snapshot).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS

from integrations.commits import (
    connection_for,
    group_connection,
    group_defer,
    group_take_deferred,
)
from integrations.db import execute_one


@dataclass(frozen=True)
class Write:
    """One write as CTE clauses: ``(name, sql)`` pairs, where a later clause
    and ``results`` refer to earlier ones as ``{name}``; ``params`` in the
    order of their ``%s``. ``results``: scalar SQL expressions whose values
    ``on_result`` takes once the write ran."""

    clauses: tuple[tuple[str, str], ...]
    params: tuple[Any, ...]
    results: tuple[str, ...] = ()
    on_result: Callable[..., None] | None = None
    # The same write on other databases (no data-modifying CTEs): returns
    # the tuple ``on_result`` takes.
    apart: Callable[[], tuple[Any, ...]] | None = None

    def named(self, position: int) -> tuple[list[str], list[str]]:
        """The clauses as ``name AS (sql)``, names made unique in a statement
        by the write's ``position`` in it (the same text for the same writes:
        cached and planned alike)."""
        parts, results = _named(self.clauses, self.results, position)
        return list(parts), list(results)


@lru_cache(maxsize=256)
def _named(
    clauses: tuple[tuple[str, str], ...], results: tuple[str, ...], position: int
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``Write.named``, built once per shape: the same writes recur on every
    request with new params only."""
    prefix = f"w{position}_"
    names = {name: prefix + name for name, _ in clauses}

    def rename(sql: str) -> str:
        for name, unique in names.items():
            sql = sql.replace("{" + name + "}", unique)
        return sql

    parts = tuple(f"{names[name]} AS ({rename(sql)})" for name, sql in clauses)
    return parts, tuple(rename(result) for result in results)


def defer(write: Write, *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Run ``write`` now, or (inside a commit group on PostgreSQL) with the
    group's next statement or just before its commit."""
    conn = group_connection(using)  # None outside a group of ``using``
    if conn is not None and conn.vendor == "postgresql" and group_defer(write):
        return
    run_writes([write], using=using)


def run_writes(writes: Sequence[Write], *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Send ``writes`` as one statement (PostgreSQL) and hand each its result."""
    send_writes(writes, using=using)()


def send_writes(
    writes: Sequence[Write], *, using: str = DEFAULT_DB_ALIAS, commit: bool = False
) -> Callable[[], None]:
    """Send ``writes`` as one statement (PostgreSQL); the callable returned
    hands each write its result. ``commit``: the statement ends the
    transaction (a group's end), so the COMMIT may ride with it
    (``execute_one``); the group hands the results over once its block has
    ended, so a failing hand-over never undoes a commit (``on_commit`` hooks
    registered then run at once)."""
    if not writes:
        return lambda: None
    conn = connection_for(using)
    if conn.vendor != "postgresql":
        each = [_run_apart(write) for write in writes]
        return lambda: _hand_each(writes, each)
    clauses: list[str] = []
    results: list[str] = []
    params: list[Any] = []
    for position, write in enumerate(writes):
        parts, values = write.named(position)
        clauses += parts
        results += values
        params += write.params
    selected = ", ".join(results) or "NULL"
    row = execute_one(
        f"WITH {', '.join(clauses)} SELECT {selected}",
        params,
        using=using,
        commit=commit,
        conn=conn,
    )
    assert row is not None
    return lambda: _hand(writes, list(row))


def _hand(writes: Sequence[Write], values: list[Any]) -> None:
    start = 0
    for write in writes:
        end = start + len(write.results)
        if write.on_result is not None:
            write.on_result(*values[start:end])
        start = end


def _hand_each(writes: Sequence[Write], each: list[tuple[Any, ...]]) -> None:
    for write, values in zip(writes, each, strict=True):
        if write.on_result is not None:
            write.on_result(*values)


def _run_apart(write: Write) -> tuple[Any, ...]:
    assert write.apart is not None, "a write for SQLite needs its apart form"
    return write.apart()


def execute(
    sql: str, params: Sequence[Any], *, using: str = DEFAULT_DB_ALIAS, conn: Any = None
) -> tuple[Any, ...] | None:
    """``execute_one``, carrying the group's waiting writes that want no
    result as CTEs in front of ``sql`` (an INSERT, UPDATE or SELECT, or a
    WITH statement): one round trip for them all. ``conn``: as for
    ``execute_one``."""
    riders = group_take_deferred(lambda write: write.on_result is None)
    if not riders:
        return execute_one(sql, params, using=using, conn=conn)
    clauses: list[str] = []
    front: list[Any] = []
    for position, write in enumerate(riders):
        clauses += write.named(position)[0]
        front += write.params
    head = f"WITH {', '.join(clauses)}"
    if sql.lstrip().upper().startswith("WITH "):
        combined = f"{head}, {sql.lstrip()[5:]}"
    else:
        combined = f"{head} {sql}"
    return execute_one(combined, [*front, *params], using=using, conn=conn)
