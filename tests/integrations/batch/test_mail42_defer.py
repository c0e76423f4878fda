"""``Defer``: one row waits on its own (something only it needs is paused)
while the job works its other rows; ``Pace`` would stop them all. The row
spends no attempt, is due again after the wait, and counts neither done nor
failed meanwhile."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.batch import (
    Defer,
    WorkState,
    batch_job_create,
    batch_job_progress,
    batch_job_work,
)
from integrations.models import BatchItem, BatchJob, BatchRowStatus
from tests.integrations.batch.handlers import effects, record

pytestmark = pytest.mark.django_db

HELD = {"keys": set(), "retry_after": None}


def held_back(row: BatchItem) -> None:
    """Defers the rows whose key is held; records the others."""
    if row.key in HELD["keys"]:
        raise Defer(f"waiting for {row.key}'s account", HELD["retry_after"])
    record(row)


@pytest.fixture(autouse=True)
def _held():
    HELD.update(keys={"k00"}, retry_after=None)


def _job(n: int):
    items = [(f"k{i:02d}", {}) for i in range(n)]
    return batch_job_create(
        kind="test.batch",
        handler=f"{__name__}.held_back",
        items=items,
        chunk_size=2,
    )


def test_the_other_rows_go_on_while_one_waits(enqueued) -> None:
    job = _job(5)
    before = timezone.now()

    result = batch_job_work(job_id=job.pk, budget_seconds=0.5)

    assert result.state == WorkState.WAITING
    assert result.wait == pytest.approx(5, abs=1)  # BATCH_PACE_SECONDS
    assert (result.done, result.failed, result.deferred) == (4, 0, 1)
    assert effects(job.pk) == {f"k{i:02d}": 1 for i in range(1, 5)}
    row = BatchItem.objects.get(job=job, key="k00")
    assert (row.status, row.attempts) == (BatchRowStatus.PENDING, 0)
    assert row.last_error == "waiting for k00's account"
    assert row.next_attempt_at >= before + timedelta(seconds=4)
    job.refresh_from_db()
    assert job.paced_until is None  # the job itself is not paced
    progress = batch_job_progress(job)
    assert (progress.done, progress.failed, progress.total) == (4, 0, 5)


def test_the_row_is_worked_once_its_wait_is_over(enqueued) -> None:
    HELD["retry_after"] = 0.2
    job = _job(3)
    batch_job_work(job_id=job.pk, budget_seconds=0)
    HELD["keys"] = set()

    result = batch_job_work(job_id=job.pk, budget_seconds=5)

    assert result.state == WorkState.STOPPED
    assert effects(job.pk) == {f"k{i:02d}": 1 for i in range(3)}
    row = BatchItem.objects.get(job=job, key="k00")
    assert (row.status, row.attempts, row.last_error) == (BatchRowStatus.DONE, 1, "")
    job.refresh_from_db()
    assert (job.status, job.done, job.failed) == ("done", 3, 0)


def test_an_absurd_wait_is_bounded(enqueued, settings) -> None:
    # A Defer is believed up to BATCH_DEFER_MAX_SECONDS (mail45), no longer.
    settings.BREAKER_MAX_RETRY_AFTER_SECONDS = 600
    settings.BATCH_DEFER_MAX_SECONDS = 1800
    HELD["retry_after"] = 1e12
    job = _job(1)

    result = batch_job_work(job_id=job.pk, budget_seconds=0)

    assert result.state == WorkState.WAITING
    row = BatchItem.objects.get(job=job)
    assert row.next_attempt_at <= timezone.now() + timedelta(seconds=1801)
    assert BatchJob.objects.get(pk=job.pk).status == "running"
