"""A wake-up marking the leased rows while their worker marks them done or
hands them back, on PostgreSQL: each statement locks the rows it changes;
taken in different orders (one by id, one in the table's physical order)
the two wait on each other and one dies of "deadlock detected". All of them
lock by id first (``rows.locked_ids``), whichever plan reads the table.

The side reading the table is paused (a test trigger waits on an advisory
lock the test holds) right after it has locked the first row it meets, so
the statements interleave the same way on every run, however loaded the
machine is.
"""

import threading
import time

import pytest
from django.db import connection, connections, transaction

from integrations.batch import batch_job_create
from integrations.batch.rows import claim_chunk, done_relaxed, release
from integrations.batch.services import batch_rows_wake
from integrations.clock import database_now
from integrations.models import BatchItem, BatchRowStatus
from tests.integrations.batch.handlers import H

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PAUSE_KEY = 474747
TABLE = BatchItem._meta.db_table
WAIT_SECONDS = 60


@pytest.fixture
def pause_trigger():
    """A BEFORE UPDATE trigger (it fires with the row locked) that, for the
    row id named in the session's ``mail47.pause_at``, waits until the test
    gives back the advisory lock ``PAUSE_KEY``."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE FUNCTION mail47_pause() RETURNS trigger AS $$
            BEGIN
              IF current_setting('mail47.pause_at', true) = OLD.id::text THEN
                PERFORM pg_advisory_lock_shared(%s);
                PERFORM pg_advisory_unlock_shared(%s);
              END IF;
              RETURN NEW;
            END $$ LANGUAGE plpgsql
            """,
            [PAUSE_KEY, PAUSE_KEY],
        )
        cursor.execute(
            f'CREATE TRIGGER mail47_pause BEFORE UPDATE ON "{TABLE}" '
            "FOR EACH ROW EXECUTE FUNCTION mail47_pause()"
        )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP TRIGGER IF EXISTS mail47_pause ON "{TABLE}"')
            cursor.execute("DROP FUNCTION IF EXISTS mail47_pause()")


def _side(name, pause_at, plan, work, pids, errors):
    """Run ``work`` on this thread's own connection, paused at row
    ``pause_at``; ``plan`` is the scans its statements may use there."""
    try:
        with connection.cursor() as cursor:
            pause = "SELECT set_config('mail47.pause_at', %s, false)"
            cursor.execute(pause, [str(pause_at or "")])
            for setting in plan:
                cursor.execute(f"SET {setting} = off")
            cursor.execute("SELECT pg_backend_pid()")
            pids[name] = cursor.fetchone()[0]
        work()
    except BaseException as exc:  # reported by the test
        errors[name] = exc
    finally:
        connections.close_all()


def _waiting(pids) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE pid = ANY(%s) AND wait_event_type = 'Lock'",
            [list(pids.values())],
        )
        return cursor.fetchone()[0] == len(pids)


def _leased_rows() -> list[BatchItem]:
    job = batch_job_create(
        kind="test.batch", handler=f"{H}.record", items=[("a", {}), ("b", {})]
    )
    rows = claim_chunk(BatchItem, job.pk, 10, database_now())
    # The first row's live version now lies after the second's in the table,
    # as a row updated since its claim (a wake-up's mark) does.
    BatchItem.objects.filter(pk=rows[0].pk).update(last_error="")
    return rows


def _wake() -> None:
    with transaction.atomic():
        batch_rows_wake(rows=BatchItem.objects.all())


# Plans the planner may pick on a real table (its statistics decide): one
# statement reads the table in its physical order, the other goes by the
# primary key's index.
TABLE_SCAN = ("enable_indexscan", "enable_bitmapscan", "enable_indexonlyscan")
BY_INDEX = ("enable_seqscan", "enable_bitmapscan")


def _race(rows: list[BatchItem], worker, *, worker_scans: bool = False):
    """The side reading the table (the wake-up, or with ``worker_scans`` the
    worker) starts first and pauses at the row it meets first, the second;
    the other starts once it waits (pausing at the first row if that is the
    worker). Both let go once both wait. The errors each side raised."""
    first, second = rows
    pids: dict[str, int] = {}
    errors: dict[str, BaseException] = {}
    wake = ("wake", second.pk, TABLE_SCAN, _wake)
    work = ("worker", first.pk, BY_INDEX, worker)
    if worker_scans:
        wake = ("wake", None, BY_INDEX, _wake)
        work = ("worker", second.pk, TABLE_SCAN, worker)
    order = [work, wake] if worker_scans else [wake, work]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [PAUSE_KEY])
    sides = [
        threading.Thread(target=_side, args=(*side, pids, errors)) for side in order
    ]
    deadline = time.monotonic() + WAIT_SECONDS
    try:
        for count, side in enumerate(sides, start=1):
            side.start()
            while len(pids) < count or not _waiting(pids):
                assert time.monotonic() < deadline, "the sides never both waited"
                time.sleep(0.05)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [PAUSE_KEY])
        for side in sides:
            side.join(timeout=WAIT_SECONDS)
    return errors


def test_a_wake_up_and_a_chunk_done_at_once_do_not_deadlock(enqueued, pause_trigger):
    rows = _leased_rows()

    def done() -> None:
        assert done_relaxed(BatchItem, rows) == {row.pk for row in rows}

    assert _race(rows, done) == {}
    statuses = set(BatchItem.objects.values_list("status", flat=True))
    assert statuses == {BatchRowStatus.DONE}


def test_a_wake_up_and_a_chunk_handed_back_at_once_do_not_deadlock(
    enqueued, pause_trigger
):
    rows = _leased_rows()

    def hand_back() -> None:
        assert release(BatchItem, rows) == 2

    assert _race(rows, hand_back) == {}
    pending = BatchItem.objects.filter(status=BatchRowStatus.PENDING, attempts=0)
    assert pending.count() == 2


@pytest.mark.parametrize("side", ["done", "hand_back"])
def test_a_worker_reading_the_table_and_a_wake_up_do_not_deadlock(
    enqueued, pause_trigger, side
):
    rows = _leased_rows()
    workers = {
        "done": lambda: done_relaxed(BatchItem, rows),
        "hand_back": lambda: release(BatchItem, rows),
    }

    assert _race(rows, workers[side], worker_scans=True) == {}
    assert not BatchItem.objects.filter(status=BatchRowStatus.RUNNING).exists()
