"""Creating, starting, running as tasks, cancelling and sweeping batch jobs;
progress as the admin and the command show it."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.module_loading import import_string

from integrations import schedules
from integrations.batch import (
    WorkResult,
    WorkState,
    batch_items_add,
    batch_job_cancel,
    batch_job_create,
    batch_job_progress,
    batch_job_run,
    batch_job_start,
    batch_job_work,
    batch_jobs_sweep,
    services,
)
from integrations.models import (
    BatchItem,
    BatchJob,
    BatchJobStatus,
    BatchRowStatus,
    Event,
)
from tests.integrations.batch import handlers
from tests.integrations.batch.handlers import H, effects

pytestmark = pytest.mark.django_db


def _items(keys):
    return [(key, {"n": i}) for i, key in enumerate(keys)]


def test_rows_are_added_once_per_key(enqueued):
    job = batch_job_create(
        kind="email.campaign",
        name="May newsletter",
        handler=f"{H}.record",
        items=_items(["a", "b", "a", "c"]),
    )
    assert job.total == 3
    assert batch_items_add(job=job, items=_items(["c", "d", "b", "e"])) == 2
    job.refresh_from_db()
    assert job.total == 5
    assert sorted(BatchItem.objects.filter(job=job).values_list("key", flat=True)) == [
        "a",
        "b",
        "c",
        "d",
        "e",
    ]
    first_a = BatchItem.objects.get(job=job, key="a")
    assert first_a.payload == {"n": 0}  # the first one stands


def test_a_wrong_handler_or_row_model_is_refused_at_creation(enqueued):
    with pytest.raises(ImportError):
        batch_job_create(kind="x", handler=f"{H}.nope", items=[])
    with pytest.raises(TypeError):
        batch_job_create(kind="x", handler=f"{H}.record", row_model=Event)
    assert not BatchJob.objects.exists()


def test_rows_cannot_be_added_to_a_settled_job(enqueued):
    job = batch_job_create(kind="x", handler=f"{H}.record", items=_items(["a"]))
    batch_job_work(job_id=job.pk)
    job.refresh_from_db()
    with pytest.raises(ValueError, match="done"):
        batch_items_add(job=job, items=_items(["b"]))


def test_start_enqueues_its_workers_on_commit(
    enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job = batch_job_create(
            kind="x", handler=f"{H}.record", items=_items(["a"]), start=False
        )
        assert job.status == BatchJobStatus.PENDING
        batch_job_start(job=job, workers=3)
        assert enqueued == []  # not before the commit
    assert [call[:2] for call in enqueued] == [("now", job.pk)] * 3
    job.refresh_from_db()
    assert job.status == BatchJobStatus.RUNNING and job.started_at is not None
    batch_job_start(job=job)  # started already: nothing more
    assert len(enqueued) == 3


def test_the_task_runs_the_job_to_the_end_enqueueing_itself(
    settings, django_capture_on_commit_callbacks
):
    # Q_SYNC: each enqueued task runs at once, for real, through django-q2.
    settings.BATCH_TIME_BUDGET_SECONDS = 0  # one chunk per task
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job = batch_job_create(
            kind="x",
            handler=f"{H}.record",
            items=_items([f"k{i}" for i in range(25)]),
            chunk_size=10,
        )
    assert len(callbacks) == 3  # the first task and two more
    job.refresh_from_db()
    assert (job.status, job.done, job.failed) == (BatchJobStatus.DONE, 25, 0)
    assert set(effects(job.pk).values()) == {1} and len(effects(job.pk)) == 25


def test_run_schedules_a_long_wait_and_enqueues_a_short_one(
    enqueued, django_capture_on_commit_callbacks
):
    handlers.PACE.update(left=1, retry_after=600)
    job = batch_job_create(kind="x", handler=f"{H}.rate_limited", items=_items("ab"))
    result = batch_job_run(job_id=job.pk)
    assert result.state == WorkState.WAITING
    ((when, job_id, next_run),) = enqueued
    assert (when, job_id) == ("later", job.pk)
    assert next_run > timezone.now() + timedelta(seconds=590)


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (WorkResult(WorkState.MORE), "now"),
        # Longer than what was left of this task's budget, not a fresh one's.
        (WorkResult(WorkState.WAITING, wait=20), "now"),
        (WorkResult(WorkState.WAITING, wait=31), "later"),
        (WorkResult(WorkState.WAITING), None),  # leased rows elsewhere
        (WorkResult(WorkState.STOPPED), None),
    ],
)
def test_run_decides_when_the_next_task_comes(
    enqueued, monkeypatch, django_capture_on_commit_callbacks, result, expected
):
    monkeypatch.setattr(services, "batch_job_work", lambda **kw: result)
    with django_capture_on_commit_callbacks(execute=True):
        assert batch_job_run(job_id=7) is result
    assert [call[0] for call in enqueued] == ([expected] if expected else [])


def test_run_enqueues_nothing_once_the_job_is_done(enqueued):
    job = batch_job_create(kind="x", handler=f"{H}.record", items=_items("ab"))
    assert batch_job_run(job_id=job.pk).state == WorkState.STOPPED
    assert enqueued == []


def test_progress_counts_rate_and_what_is_left(enqueued, settings):
    settings.BATCH_MAX_ATTEMPTS = 1
    job = batch_job_create(
        kind="x",
        handler=f"{H}.flaky",
        items=[(f"k{i}", {"fail_times": 1 if i < 2 else 0}) for i in range(10)],
        chunk_size=4,
    )
    batch_job_work(job_id=job.pk, budget_seconds=0)
    job.refresh_from_db()
    now = job.started_at + timedelta(seconds=2)
    progress = batch_job_progress(job, now=now)
    assert (progress.done, progress.failed, progress.total) == (2, 2, 10)
    assert (progress.remaining, progress.percent) == (6, 40.0)
    assert progress.rate == pytest.approx(2.0)
    assert progress.eta_seconds == pytest.approx(3.0)
    assert progress.summary().startswith("2/10 done, 2 failed (40.0%), 2.0 rows/s")


def test_cancel_of_a_job_nobody_works_is_immediate(enqueued):
    job = batch_job_create(kind="x", handler=f"{H}.record", items=_items("abc"))
    job = batch_job_cancel(job_id=job.pk)
    assert job.status == BatchJobStatus.CANCELLED and job.finished_at is not None
    assert batch_job_work(job_id=job.pk).state == WorkState.STOPPED
    assert effects(job.pk) == {}
    assert batch_job_cancel(job_id=job.pk).status == BatchJobStatus.CANCELLED


def test_cancel_waits_for_leased_rows_and_the_sweeper_settles_it(enqueued):
    job = batch_job_create(kind="x", handler=f"{H}.record", items=_items("abc"))
    # A worker leased every row, then died.
    stale = timezone.now() - timedelta(seconds=301)
    BatchItem.objects.filter(job=job).update(
        status=BatchRowStatus.RUNNING, claimed_at=stale, attempts=1
    )
    job = batch_job_cancel(job_id=job.pk)
    assert (job.status, job.cancel_requested) == (BatchJobStatus.RUNNING, True)
    assert "cancelling" in batch_job_progress(job).summary()
    assert batch_jobs_sweep() == 0  # not enqueued: it is being cancelled
    job.refresh_from_db()
    assert job.status == BatchJobStatus.CANCELLED
    assert set(BatchItem.objects.filter(job=job).values_list("status", flat=True)) == {
        BatchRowStatus.PENDING
    }


def test_cancel_leaves_a_settled_job_alone(enqueued):
    job = batch_job_create(kind="x", handler=f"{H}.record", items=_items("a"))
    batch_job_work(job_id=job.pk)
    assert batch_job_cancel(job_id=job.pk).status == BatchJobStatus.DONE


def test_sweep_takes_back_expired_leases_and_gives_up_at_max_attempts(enqueued):
    job = batch_job_create(kind="x", handler=f"{H}.record", items=_items("abc"))
    stale = timezone.now() - timedelta(seconds=301)
    BatchItem.objects.filter(job=job).update(
        status=BatchRowStatus.RUNNING, claimed_at=stale, attempts=1
    )
    BatchItem.objects.filter(job=job, key="c").update(attempts=3)
    fresh = BatchItem.objects.get(job=job, key="b")
    BatchItem.objects.filter(pk=fresh.pk).update(claimed_at=timezone.now())
    batch_jobs_sweep()
    rows = {r.key: r for r in BatchItem.objects.filter(job=job)}
    assert rows["a"].status == BatchRowStatus.PENDING
    assert "lease expired" in rows["a"].last_error
    assert rows["b"].status == BatchRowStatus.RUNNING  # its worker is alive
    assert rows["c"].status == BatchRowStatus.FAILED
    job.refresh_from_db()
    assert job.failed == 1
    BatchItem.objects.filter(pk=fresh.pk).update(status=BatchRowStatus.DONE)
    result = batch_job_work(job_id=job.pk)
    assert result.state == WorkState.STOPPED
    job.refresh_from_db()
    assert (job.status, job.done, job.failed) == (BatchJobStatus.DONE, 2, 1)
    assert effects(job.pk) == {"a": 1}  # only the row taken back ran here


def test_sweep_enqueues_only_jobs_left_alone(enqueued):
    def make(name, **fields):
        job = batch_job_create(kind="x", handler=f"{H}.record", items=_items("a"))
        BatchJob.objects.filter(pk=job.pk).update(name=name, **fields)
        return job.pk

    old = timezone.now() - timedelta(minutes=3)
    dropped = make("dropped", started_at=old, worked_at=None)
    stalled = make("stalled", worked_at=old)
    make("busy", worked_at=timezone.now())
    make("paced", worked_at=old, paced_until=timezone.now() + timedelta(minutes=1))
    make("unstarted", status=BatchJobStatus.PENDING, worked_at=old)
    make("finished", status=BatchJobStatus.DONE, worked_at=old)
    assert batch_jobs_sweep() == 2
    assert sorted(call[1] for call in enqueued) == sorted([dropped, stalled])


def test_the_sweeper_is_scheduled_every_minute():
    job = next(j for j in schedules.JOBS if j.name == "integrations.batch.sweep")
    assert job.minutes == 1
    assert import_string(job.func)() == 0


def test_a_long_wait_keeps_one_wake_up_per_job(monkeypatch):
    from django_q.models import Schedule

    monkeypatch.setattr(services, "async_task", lambda *args, **kw: None)
    handlers.PACE.update(left=1, retry_after=300)
    job = batch_job_create(kind="x", handler=f"{H}.rate_limited", items=_items("ab"))
    batch_job_run(job_id=job.pk)
    BatchJob.objects.filter(pk=job.pk).update(
        paced_until=timezone.now() + timedelta(seconds=900)
    )
    batch_job_run(job_id=job.pk)  # a second worker, a later wait
    (wake_up,) = Schedule.objects.filter(name=f"integrations.batch.job.{job.pk}")
    assert wake_up.func == services.WORK_TASK
    assert wake_up.schedule_type == Schedule.ONCE
    assert wake_up.next_run > timezone.now() + timedelta(seconds=890)
