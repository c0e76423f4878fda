"""Workers racing for one job's rows on PostgreSQL: SKIP LOCKED hands each
row to one worker and makes nobody wait for rows another is claiming."""

import threading
import time

import pytest
from django.db import connections, transaction

from integrations.batch import batch_job_create, batch_job_work
from integrations.models import BatchItem, BatchJob, BatchJobStatus, BatchRowStatus
from tests.integrations.batch import handlers
from tests.integrations.batch.handlers import H, effects

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _job(n: int, handler: str, chunk_size: int) -> BatchJob:
    return batch_job_create(
        kind="test.batch",
        handler=f"{H}.{handler}",
        items=[(f"k{i:03d}", {}) for i in range(n)],
        chunk_size=chunk_size,
    )


def test_a_claim_skips_rows_locked_by_another_claimer(enqueued):
    job = _job(10, "record", chunk_size=5)
    locked, release = threading.Event(), threading.Event()

    def hold_first_five() -> None:
        try:
            with transaction.atomic():
                rows = BatchItem.objects.filter(job=job).order_by("pk")
                list(rows.select_for_update()[:5])
                locked.set()
                release.wait(timeout=20)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_first_five)
    holder.start()
    try:
        assert locked.wait(timeout=10)
        started = time.monotonic()
        result = batch_job_work(job_id=job.pk, budget_seconds=0)
        elapsed = time.monotonic() - started
    finally:
        release.set()
        holder.join(timeout=30)
    assert elapsed < 5  # not blocked behind the holder's locks
    assert result.done == 5
    assert sorted(effects(job.pk)) == [f"k{i:03d}" for i in range(5, 10)]
    # Once the locks are gone the rest is claimed as usual.
    assert batch_job_work(job_id=job.pk).done == 5
    assert set(effects(job.pk).values()) == {1} and len(effects(job.pk)) == 10


def test_two_workers_share_a_job_and_each_row_is_done_once(enqueued):
    job = _job(120, "slow_record", chunk_size=5)
    barrier = threading.Barrier(2)
    results = {}

    def work(name: str) -> None:
        try:
            barrier.wait(timeout=10)
            results[name] = batch_job_work(job_id=job.pk, budget_seconds=60)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(name,), name=name) for name in "AB"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(r.done for r in results.values()) == 120
    per_worker = {name: 0 for name in "AB"}
    for name, _pk in handlers.workers:
        per_worker[name] += 1
    assert all(count >= 10 for count in per_worker.values()), per_worker
    assert len(handlers.workers) == 120  # no row handled twice, even rolled back
    counted = effects(job.pk)
    assert len(counted) == 120 and set(counted.values()) == {1}
    job.refresh_from_db()
    assert (job.status, job.done, job.failed) == (BatchJobStatus.DONE, 120, 0)
    assert not BatchItem.objects.filter(job=job).exclude(status=BatchRowStatus.DONE)
