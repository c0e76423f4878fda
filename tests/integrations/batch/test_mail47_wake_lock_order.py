"""A wake-up marking the leased rows while their worker marks them done or
hands them back, on PostgreSQL: each statement locks the rows it changes;
taken in different orders (one by id, one in the table's physical order)
the two wait on each other and one dies of "deadlock detected". All of them
lock by id first (``rows.locked_ids``), whichever plan reads the table.

The side reading the table is paused right after it has locked the first
row it meets (``tests.lock_order``), so the statements interleave the same
way on every run, however loaded the machine is.
"""

import pytest
from django.db import transaction

from integrations.batch import batch_job_create
from integrations.batch.rows import claim_chunk, done_relaxed, release
from integrations.batch.services import batch_rows_wake
from integrations.clock import database_now
from integrations.models import BatchItem, BatchRowStatus
from tests.integrations.batch.handlers import H
from tests.lock_order import BY_INDEX, TABLE_SCAN, Side, race
from tests.lock_order import pause_trigger as table_paused

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pause_trigger():
    """The batch rows' table paused (``tests.lock_order``)."""
    with table_paused(BatchItem._meta.db_table):
        yield


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


def _race(rows: list[BatchItem], worker, *, worker_scans: bool = False):
    """The side reading the table (the wake-up, or with ``worker_scans`` the
    worker) starts first and pauses at the row it meets first, the second;
    the other starts once it waits (pausing at the first row if that is the
    worker). Both let go once both wait. The errors each side raised."""
    first, second = rows
    if worker_scans:
        work = Side("worker", second.pk, TABLE_SCAN, worker)
        return race(work, Side("wake", None, BY_INDEX, _wake))
    wake = Side("wake", second.pk, TABLE_SCAN, _wake)
    return race(wake, Side("worker", first.pk, BY_INDEX, worker))


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
