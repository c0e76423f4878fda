"""A worker dies holding leased rows while every other row of its job waits
on its own (``Defer``, its wait doubling up to BATCH_DEFER_MAX_SECONDS): the
job's one wake-up is then its earliest waiting row, up to 30 minutes away.
The sweeper takes the dead worker's rows back due now, and wakes the job for
them once it is left alone, as before the wake-up (it used to leave the job
to its wake-up: those rows waited the half hour too)."""

from datetime import timedelta

import pytest
from django_q.models import Schedule

from integrations.batch import Defer, WorkState, batch_job_create, batch_job_work
from integrations.batch import services as batch_services
from integrations.clock import database_now
from integrations.models import BatchItem, BatchJob, BatchRowStatus
from tests.integrations.batch.handlers import effects, record

pytestmark = pytest.mark.django_db

HELD = {"k00", "k01"}


def held_back(row: BatchItem) -> None:
    """The held rows wait ten minutes on their own (the longest wait a
    handler's Defer may ask: BREAKER_MAX_RETRY_AFTER_SECONDS); the others are
    done."""
    if row.key in HELD:
        raise Defer(f"waiting for {row.key}'s account", 600)
    record(row)


@pytest.fixture
def enqueued(monkeypatch) -> list[int]:
    """Jobs enqueued now; the wake-ups stay real Schedule rows, which the
    sweeper reads."""
    jobs: list[int] = []
    monkeypatch.setattr(
        batch_services, "async_task", lambda func, job_id, *a, **kw: jobs.append(job_id)
    )
    return jobs


def _job_with_a_dead_worker(enqueued: list[int]) -> BatchJob:
    """k02 leased by a worker that died 400 s ago (lease 300 s); k00 and k01
    waiting 10 min, the job's wake-up set for then, the job left alone for
    5 minutes."""
    job = batch_job_create(
        kind="test.batch",
        handler=f"{__name__}.held_back",
        items=[(f"k{i:02d}", {}) for i in range(3)],
        start=True,
    )
    now = database_now()
    BatchItem.objects.filter(job=job, key="k02").update(
        status=BatchRowStatus.RUNNING,
        claimed_at=now - timedelta(seconds=400),
        attempts=1,
    )
    result = batch_services.batch_job_run(job_id=job.pk)
    assert result.state == WorkState.WAITING
    assert result.wait == pytest.approx(600, abs=5)
    wake_up = Schedule.objects.get(name=f"integrations.batch.job.{job.pk}")
    assert wake_up.next_run > now + timedelta(minutes=9)
    BatchJob.objects.filter(pk=job.pk).update(worked_at=now - timedelta(minutes=5))
    enqueued.clear()
    return job


def test_the_dead_workers_rows_are_due_now_and_the_job_is_woken(enqueued) -> None:
    job = _job_with_a_dead_worker(enqueued)

    assert batch_services.batch_jobs_sweep() == 1
    assert enqueued == [job.pk]
    row = BatchItem.objects.get(job=job, key="k02")
    assert row.status == BatchRowStatus.PENDING
    assert row.next_attempt_at <= database_now()

    # The woken job works the row at once; the others keep their wait.
    result = batch_job_work(job_id=job.pk, budget_seconds=0)
    assert result.state == WorkState.WAITING
    assert effects(job.pk) == {"k02": 1}
    row.refresh_from_db()
    assert (row.status, row.attempts) == (BatchRowStatus.DONE, 2)
    waiting = BatchItem.objects.filter(job=job, key__in=HELD)
    assert {r.status for r in waiting} == {BatchRowStatus.PENDING}
    assert all(r.next_attempt_at > database_now() for r in waiting)


def test_a_job_whose_rows_all_wait_still_rests_until_its_wake_up(enqueued) -> None:
    """Nothing taken back (the lease still runs): the job rests as before."""
    job = _job_with_a_dead_worker(enqueued)
    BatchItem.objects.filter(job=job, key="k02").update(claimed_at=database_now())

    assert batch_services.batch_jobs_sweep() == 0
    assert enqueued == []
    assert BatchItem.objects.get(job=job, key="k02").status == BatchRowStatus.RUNNING


def test_the_job_is_woken_only_once_left_alone(enqueued) -> None:
    """Rows taken back from a job a live worker touched a moment ago: that
    worker sees them; the sweeper wakes the job once it is left alone."""
    job = _job_with_a_dead_worker(enqueued)
    BatchJob.objects.filter(pk=job.pk).update(worked_at=database_now())

    assert batch_services.batch_jobs_sweep() == 0
    later = database_now() + timedelta(minutes=3)
    assert batch_services.batch_jobs_sweep(now=later) == 1
    assert enqueued == [job.pk]
