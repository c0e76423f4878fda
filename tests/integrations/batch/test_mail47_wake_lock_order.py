"""A wake-up marking the leased rows while their worker marks them done, on
PostgreSQL: both statements lock the rows they change; taken in different
orders (one by id, one in the table's physical order) the two wait on each
other and one dies of "deadlock detected". Both take them by id.

Each side is paused (a test trigger waits on an advisory lock the test
holds) right after it has locked its first row, so the two statements
interleave the same way on every run, however loaded the machine is.
"""

import threading
import time

import pytest
from django.db import connection, connections, transaction

from integrations.batch import batch_job_create
from integrations.batch.rows import claim_chunk, done_relaxed
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
            cursor.execute(pause, [str(pause_at)])
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


def test_a_wake_up_and_a_chunk_done_at_once_do_not_deadlock(enqueued, pause_trigger):
    job = batch_job_create(
        kind="test.batch", handler=f"{H}.record", items=[("a", {}), ("b", {})]
    )
    rows = claim_chunk(BatchItem, job.pk, 10, database_now())
    first, second = rows
    # The first row's live version now lies after the second's in the table,
    # as a row updated since its claim (a wake-up's mark) does.
    BatchItem.objects.filter(pk=first.pk).update(last_error="")

    def wake() -> None:
        with transaction.atomic():
            batch_rows_wake(rows=BatchItem.objects.all())

    def done() -> None:
        assert done_relaxed(BatchItem, rows) == {first.pk, second.pk}

    pids: dict[str, int] = {}
    errors: dict[str, BaseException] = {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [PAUSE_KEY])
    # The plans a big table gets: the wake-up reads the table in its
    # physical order, the done goes by the primary key's index.
    table_scan = ["enable_indexscan", "enable_bitmapscan", "enable_indexonlyscan"]
    by_index = ["enable_seqscan", "enable_bitmapscan"]
    sides = [
        threading.Thread(
            target=_side, args=("wake", second.pk, table_scan, wake, pids, errors)
        ),
        threading.Thread(
            target=_side, args=("done", first.pk, by_index, done, pids, errors)
        ),
    ]
    try:
        sides[0].start()
        deadline = time.monotonic() + WAIT_SECONDS
        while "wake" not in pids or not _waiting(pids):
            assert time.monotonic() < deadline, "the wake-up never paused"
            time.sleep(0.05)
        sides[1].start()
        while len(pids) < 2 or not _waiting(pids):
            assert time.monotonic() < deadline, "the two never both waited"
            time.sleep(0.05)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [PAUSE_KEY])
        for side in sides:
            side.join(timeout=WAIT_SECONDS)
    assert errors == {}
    statuses = set(BatchItem.objects.values_list("status", flat=True))
    assert statuses == {BatchRowStatus.DONE}
