"""Shared commits: the durable writes of one request grouped into as few
commits as its provider calls allow.

A request that calls a provider must make some writes durable before the
call (the idempotency claim, the attempt with its key) and the rest after it
(the attempt's result, the domain row, its outbox event, the idempotency
response). Each write committing on its own costs a WAL flush apiece; inside a
``commit_group()`` a write preceded by ``group_join()`` joins one open
transaction, and ``group_commit()`` makes it durable at the point the design
needs (``integrations.attempts.attempt_run`` calls it just before the provider
call). What is left open commits when the group ends, or rolls back if it
ends with an exception.

Outside a group, or when a group starts inside a transaction the caller owns
(a test's, an ``atomic`` block), both hooks do nothing: every write commits as
it did. Never make a provider call between ``group_join()`` and the next
``group_commit()`` except through ``attempt_run``.
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from threading import get_ident
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction

logger = logging.getLogger(__name__)


@dataclass
class _Group:
    using: str
    # ``connections[using]`` of the thread that opened the group, looked up
    # once: a look-up costs ~7 Python calls and the hooks make a dozen.
    conn: Any
    thread: int  # that thread's ident
    held: Any = None  # the open ``transaction.Atomic``, entered by group_join
    # Writes waiting for the next statement or the commit (group_sql).
    deferred: list[Any] = field(default_factory=list)

    def connection(self) -> Any:
        """This thread's connection: the group's in the thread that opened
        it; in a thread running a copy of its context (integrations.fanout),
        that thread's own, which the group's block is never on."""
        if get_ident() == self.thread:
            return self.conn
        return connections[self.using]

    def owns_top(self) -> bool:
        """The held block is the connection's only one: safe to close it here."""
        return self.held is not None and self.connection().atomic_blocks == [self.held]

    def close(self, error: BaseException | None = None) -> None:
        """Commit (after sending the waiting writes) or roll back; the
        waiting writes get their results once the block has ended."""
        failed = None
        hand = None
        if error is None and self.deferred:
            from integrations.group_sql import send_writes

            try:
                hand = send_writes(self.deferred, using=self.using, commit=True)
            except BaseException as exc:  # rolled back below, then raised
                failed = error = exc
        self.deferred = []
        held, self.held = self.held, None
        # The block's on-commit hooks run outside the group: a hook that
        # writes through group_join (a task run inline) commits on its own
        # instead of opening a block the group would never close.
        outside = _current.set(None)
        try:
            if error is None:
                held.__exit__(None, None, None)
            else:
                held.__exit__(type(error), error, error.__traceback__)
        finally:
            _current.reset(outside)
        if failed is not None:
            raise failed
        if hand is not None:
            hand()


_current: ContextVar[_Group | None] = ContextVar("commit_group", default=None)


@contextmanager
def commit_group(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Group the joined writes made inside into shared commits."""
    conn = connections[using]
    if conn.in_atomic_block:
        yield  # the caller's transaction decides when anything commits
        return
    group = _Group(using, conn, get_ident())
    token = _current.set(group)
    try:
        yield
    except BaseException as error:
        if group.held is not None:
            _close(group, error)
        raise
    else:
        if group.held is not None:
            _close(group, None)
    finally:
        _current.reset(token)


def _close(group: _Group, error: BaseException | None) -> None:
    if not group.owns_top():
        # An atomic block left open inside the group: closing ours under it
        # would corrupt Django's bookkeeping; end it the ordinary way.
        logger.error("commit group closed with a nested block open")
    group.close(error)


def group_join() -> None:
    """Open the group's transaction if none is: the writes that follow share
    its commit. Does nothing outside a group or inside another transaction."""
    group = _current.get()
    if group is None or group.held is not None:
        return
    if group.connection().in_atomic_block:
        return  # someone else's transaction: their commit decides
    atomic = transaction.atomic(using=group.using)
    atomic.__enter__()
    group.held = atomic


def group_commit() -> None:
    """Commit the group's open transaction now: a durable point, such as the
    moment before a provider call. Does nothing if none is open."""
    group = _current.get()
    if group is None or group.held is None:
        return
    if not group.owns_top():
        # Someone's atomic block is open inside ours: it must end first.
        logger.warning("commit group not committed: a nested block is open")
        return
    group.close()


def group_rollback() -> None:
    """Roll back the group's open transaction (its writes are lost): for a
    first write that failed, so the caller can go on without a savepoint."""
    group = _current.get()
    if group is None or group.held is None or not group.owns_top():
        return
    group.close(_RolledBack())


class _RolledBack(Exception):
    """Passed to the held block's exit so that it rolls back."""


def group_alone() -> bool:
    """True while the group's own transaction is open and no other block is:
    a write that fails there can be undone by ``group_rollback()`` (losing
    the group's earlier writes) instead of costing a savepoint pair."""
    group = _current.get()
    return group is not None and group.owns_top()


def group_held() -> bool:
    """True while the group's own transaction is open (not a caller's)."""
    group = _current.get()
    return group is not None and group.held is not None


def group_deferrable() -> bool:
    """True while a write may wait in the group (``integrations.group_sql``):
    the group's own transaction is open and no savepoint inside it, whose
    rollback would not take a waiting write with it."""
    group = _current.get()
    if group is None or group.held is None:
        return False
    conn = group.connection()
    return conn.atomic_blocks[:1] == [group.held] and not any(conn.savepoint_ids)


def connection_for(using: str = DEFAULT_DB_ALIAS) -> Any:
    """``connections[using]``: the open group's, looked up once, when it is
    on ``using`` and this thread opened it (a look-up costs ~7 Python calls;
    a payment's path asks for the connection a few dozen times)."""
    group = _current.get()
    if group is not None and group.thread == get_ident() and group.using == using:
        return group.conn
    return connections[using]


def group_connection(using: str) -> Any:
    """The connection of the group open on ``using`` (None if there is none):
    the look-up it made once."""
    group = _current.get()
    if group is None or group.using != using:
        return None
    return group.connection()


def group_defer(write: Any) -> bool:
    """Keep ``write`` until the group's next statement or commit, when
    ``group_deferrable()``; False (nothing kept) when not."""
    group = _current.get()
    if group is None or not group_deferrable():
        return False
    group.deferred.append(write)
    return True


def group_take_deferred(wanted: Callable[[Any], bool]) -> list[Any]:
    """Remove and return the waiting writes ``wanted`` selects, for the
    statement about to be sent; none while a savepoint is open."""
    group = _current.get()
    if group is None or not group.deferred or not group_deferrable():
        return []
    taken = [write for write in group.deferred if wanted(write)]
    group.deferred = [write for write in group.deferred if not wanted(write)]
    return taken
