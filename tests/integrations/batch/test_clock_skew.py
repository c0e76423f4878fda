"""Batch rows whatever the machines' clocks: a chunk's lease and a row's
retry are measured on the database's clock, so a sweeper on another machine
never takes back a live worker's rows, and a retry waits its backoff; a job
ends on the clock it started on, so it never ends before it began."""

from datetime import timedelta

import pytest

from integrations.batch import (
    WorkState,
    batch_job_cancel,
    batch_job_create,
    batch_job_progress,
    batch_job_run,
    batch_job_work,
)
from integrations.batch import batch_jobs_sweep as sweep
from integrations.clock import database_now
from integrations.models import BatchItem, BatchJob, BatchJobStatus
from integrations.testing.clocks import machine_clock, shared_by_machines
from tests.integrations.batch import handlers
from tests.integrations.batch.handlers import H, effects, record

pytestmark = pytest.mark.django_db

SKEW = 300  # a machine whose NTP broke: five minutes off
THIS = "tests.integrations.batch.test_clock_skew"
_sweeper_skew: list[float] = []


@pytest.fixture(autouse=True)
def _two_machines(settings, enqueued) -> None:
    if not shared_by_machines():
        pytest.skip("SQLite is opened by processes of one machine only")
    settings.BATCH_LEASE_SECONDS = 60
    _sweeper_skew.clear()


def swept_meanwhile(row: BatchItem) -> None:
    """A handler during whose call another machine's sweep runs."""
    with machine_clock(_sweeper_skew[0]):
        sweep()
    record(row)


def _job(handler: str, n: int = 3, payload: dict | None = None) -> BatchJob:
    items = [(f"k{i}", payload or {}) for i in range(n)]
    return batch_job_create(kind="test.batch", handler=handler, items=items)


@pytest.mark.parametrize(
    ("worker", "sweeper"),
    [(-SKEW, 0), (0, SKEW)],
    ids=["worker_behind", "sweeper_ahead"],
)
def test_a_sweep_on_another_machine_leaves_a_live_chunk(worker, sweeper) -> None:
    _sweeper_skew.append(sweeper)
    job = _job(f"{THIS}.swept_meanwhile")

    with machine_clock(worker):
        result = batch_job_work(job_id=job.pk, budget_seconds=0)

    assert (result.state, result.done, result.lost) == (WorkState.STOPPED, 3, 0)
    assert effects(job.pk) == {"k0": 1, "k1": 1, "k2": 1}
    assert set(BatchItem.objects.values_list("attempts", flat=True)) == {1}


@pytest.mark.parametrize("worker", [-SKEW, SKEW], ids=["behind", "ahead"])
def test_a_rows_retry_waits_its_backoff_by_the_databases_clock(worker) -> None:
    job = _job(f"{H}.flaky", n=1, payload={"fail_times": 1})

    with machine_clock(worker):
        batch_job_work(job_id=job.pk, budget_seconds=0)

    row = BatchItem.objects.get(job=job)
    wait = row.next_attempt_at - database_now()
    assert timedelta(seconds=25) < wait <= timedelta(seconds=30)


def _ended_after_it_began(job: BatchJob, status: str) -> None:
    job.refresh_from_db()
    assert job.status == status
    assert job.finished_at >= job.started_at, (job.started_at, job.finished_at)
    assert batch_job_progress(job).rate is not None


def test_a_job_cancelled_from_a_slow_machine_does_not_end_before_it_began():
    job = _job(f"{H}.record", n=1)

    with machine_clock(-SKEW):  # the admin's web host
        batch_job_cancel(job_id=job.pk)

    _ended_after_it_began(job, BatchJobStatus.CANCELLED)


def test_a_cancel_settled_by_a_slow_worker_does_not_end_before_it_began():
    job = _job(f"{H}.record", n=1)
    BatchJob.objects.filter(pk=job.pk).update(cancel_requested=True)

    with machine_clock(-SKEW):
        result = batch_job_work(job_id=job.pk, budget_seconds=0)

    assert result.state == WorkState.STOPPED
    _ended_after_it_began(job, BatchJobStatus.CANCELLED)


def test_a_job_failed_by_a_slow_worker_does_not_end_before_it_began():
    job = _job(f"{H}.record", n=1)
    BatchJob.objects.filter(pk=job.pk).update(handler=f"{H}.no_such_handler")

    with machine_clock(-SKEW):
        batch_job_work(job_id=job.pk, budget_seconds=0)

    _ended_after_it_began(job, BatchJobStatus.FAILED)


def test_progress_read_on_a_fast_machine_is_measured_on_the_databases_clock():
    job = _job(f"{H}.record", n=2)
    batch_job_work(job_id=job.pk, budget_seconds=0)
    BatchJob.objects.filter(pk=job.pk).update(status=BatchJobStatus.RUNNING)
    job.refresh_from_db()
    job.finished_at = None

    with machine_clock(SKEW):
        progress = batch_job_progress(job)

    # Two rows in well under five minutes: not 300 seconds' worth of rate.
    assert progress.rate is not None and progress.rate > 2 / 60


def test_a_long_wait_from_a_slow_worker_wakes_the_job_after_the_pause(enqueued):
    handlers.PACE.update(left=1, retry_after=600)
    job = _job(f"{H}.rate_limited", n=2)

    with machine_clock(-SKEW):
        batch_job_run(job_id=job.pk)

    ((when, _job_id, next_run),) = enqueued
    job.refresh_from_db()
    assert when == "later"
    assert next_run >= job.paced_until - timedelta(seconds=5), (next_run, job)
