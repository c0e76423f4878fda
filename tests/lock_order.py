"""Two statements racing for the same rows on PostgreSQL, interleaved the
same way on every run, however loaded the machine is: a test trigger pauses
a side right after it has locked the row named in its session's
``lock_order.pause_at`` (a BEFORE UPDATE trigger fires with the row locked)
until the test gives back an advisory lock; the second side starts once the
first waits, and both are let go once both wait. Taking two rows in
opposite orders, one dies of "deadlock detected"; locking them by id first,
one waits for the other. A side's ``plan`` is the scans it may not use: the
table's physical order against an index's, as real planners may pick."""

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import connection, connections

PAUSE_KEY = 474747
WAIT_SECONDS = 60

# Plans the planner may pick on a real table (its statistics decide): one
# statement reads the table in its physical order, the other goes by an index.
TABLE_SCAN = ("enable_indexscan", "enable_bitmapscan", "enable_indexonlyscan")
BY_INDEX = ("enable_seqscan", "enable_bitmapscan")


@contextmanager
def pause_trigger(table: str) -> Iterator[None]:
    """The pausing trigger on ``table`` while the block runs."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE FUNCTION lock_order_pause() RETURNS trigger AS $$
            BEGIN
              IF current_setting('lock_order.pause_at', true) = OLD.id::text THEN
                PERFORM pg_advisory_lock_shared(%s);
                PERFORM pg_advisory_unlock_shared(%s);
              END IF;
              RETURN NEW;
            END $$ LANGUAGE plpgsql
            """,
            [PAUSE_KEY, PAUSE_KEY],
        )
        cursor.execute(
            f'CREATE TRIGGER lock_order_pause BEFORE UPDATE ON "{table}" '
            "FOR EACH ROW EXECUTE FUNCTION lock_order_pause()"
        )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP TRIGGER IF EXISTS lock_order_pause ON "{table}"')
            cursor.execute("DROP FUNCTION IF EXISTS lock_order_pause()")


@dataclass(frozen=True)
class Side:
    name: str
    pause_at: int | None  # the row id it pauses at, if any
    plan: tuple[str, ...]  # planner settings turned off for it
    work: Callable[[], object]


def race(first: Side, second: Side) -> dict[str, BaseException]:
    """``first`` starts and pauses; ``second`` starts once it waits; both go
    on once both wait. The errors each side raised, by name."""
    pids: dict[str, int] = {}
    errors: dict[str, BaseException] = {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [PAUSE_KEY])
    threads = [
        threading.Thread(target=_run, args=(side, pids, errors))
        for side in (first, second)
    ]
    deadline = time.monotonic() + WAIT_SECONDS
    try:
        for count, thread in enumerate(threads, start=1):
            thread.start()
            while len(pids) < count or not _waiting(pids):
                assert time.monotonic() < deadline, "the sides never both waited"
                time.sleep(0.05)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [PAUSE_KEY])
        for thread in threads:
            thread.join(timeout=WAIT_SECONDS)
    return errors


def _run(side: Side, pids: dict[str, int], errors: dict[str, BaseException]) -> None:
    """``side.work`` on this thread's own connection."""
    try:
        with connection.cursor() as cursor:
            pause = "SELECT set_config('lock_order.pause_at', %s, false)"
            cursor.execute(pause, [str(side.pause_at or "")])
            for setting in side.plan:
                cursor.execute(f"SET {setting} = off")
            cursor.execute("SELECT pg_backend_pid()")
            pids[side.name] = cursor.fetchone()[0]
        side.work()
    except BaseException as exc:  # reported by the test
        errors[side.name] = exc
    finally:
        connections.close_all()


def _waiting(pids: dict[str, int]) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE pid = ANY(%s) AND wait_event_type = 'Lock'",
            [list(pids.values())],
        )
        return cursor.fetchone()[0] == len(pids)
