"""Batch jobs: create with their rows, start, run as tasks, cancel, sweep.

A job's task works it for one time budget (integrations.batch.work) and
enqueues it again while rows are left, so no task outlives ``Q_TIMEOUT``.
A job a broker dropped, or whose worker died, is picked up by the sweeper
schedule, which also takes back the rows a dead worker had leased.
"""

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial
from itertools import islice
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.db.models import CharField, Exists, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Cast, Concat
from django.utils.module_loading import import_string
from django_q.models import Schedule
from django_q.tasks import async_task, schedule

from integrations import correlation
from integrations.batch import state
from integrations.batch.rows import due_rows, leases_for, locked_ids
from integrations.batch.work import WorkResult, WorkState, batch_job_work
from integrations.clock import database_now
from integrations.models import (
    BatchItem,
    BatchJob,
    BatchJobStatus,
    BatchRow,
    BatchRowStatus,
)
from integrations.rows import locked_update
from integrations.task_batcher import enqueue_failed, shared_broker

logger = logging.getLogger(__name__)

WORK_TASK = "integrations.batch.tasks.work_batch_job"
_INSERT_BATCH = 1000
_SWEEP_LIMIT = 500


def batch_job_create(
    *,
    kind: str,
    handler: str,
    name: str = "",
    row_model: type[BatchRow] = BatchItem,
    items: Iterable[tuple[str, dict[str, Any]]] | None = None,
    rows: Iterable[BatchRow] | None = None,
    chunk_size: int | None = None,
    start: bool = True,
) -> BatchJob:
    """A job with its rows, in one transaction; started (a task enqueued on
    commit) unless ``start`` is False.

    ``handler`` is the dotted path of a function that takes one row. Give
    ``items`` (key, payload) for generic BatchItem rows, or unsaved ``rows``
    of ``row_model`` (their ``job`` is set here).
    """
    import_string(handler)  # a wrong path fails here, not in a worker
    if not issubclass(row_model, BatchRow) or row_model._meta.abstract:
        raise TypeError(f"{row_model.__name__} is not a concrete batch row model")
    with transaction.atomic():
        job = BatchJob.objects.create(
            kind=kind,
            name=name,
            handler=handler,
            row_model=row_model._meta.label,
            chunk_size=chunk_size or settings.BATCH_CHUNK_SIZE,
        )
        if items is not None:
            batch_items_add(job=job, items=items)
        if rows is not None:
            batch_rows_add(job=job, rows=rows)
        if start:
            batch_job_start(job=job)
    logger.info("batch job created", extra={"job_id": job.pk, "kind": kind})
    return job


def batch_rows_add(*, job: BatchJob, rows: Iterable[BatchRow]) -> int:
    """Add rows to a job that has not settled; a row that breaks one of its
    model's unique constraints (the same key again) is skipped. Returns how
    many were added."""
    if job.status in state.FINAL:
        raise ValueError(f"batch job {job.pk} is {job.status}: no rows can be added")
    model = apps.get_model(job.row_model)
    before = model.objects.filter(job_id=job.pk).count()
    iterator = iter(rows)
    while chunk := list(islice(iterator, _INSERT_BATCH)):
        for row in chunk:
            row.job = job
        model.objects.bulk_create(chunk, ignore_conflicts=True)
    total = model.objects.filter(job_id=job.pk).count()
    BatchJob.objects.filter(pk=job.pk).update(total=total)
    job.total = total
    return total - before


def batch_items_add(
    *, job: BatchJob, items: Iterable[tuple[str, dict[str, Any]]]
) -> int:
    """``batch_rows_add`` for BatchItem rows: (key, payload) pairs."""
    return batch_rows_add(
        job=job,
        rows=(BatchItem(key=str(key), payload=payload) for key, payload in items),
    )


def batch_job_start(*, job: BatchJob, workers: int = 1) -> None:
    """Start a pending job: ``workers`` tasks, enqueued when the caller's
    transaction commits, work it side by side."""
    updated = BatchJob.objects.filter(pk=job.pk, status=BatchJobStatus.PENDING).update(
        status=BatchJobStatus.RUNNING, started_at=database_now()
    )
    if not updated:
        return
    job.status = BatchJobStatus.RUNNING
    for _ in range(workers):
        transaction.on_commit(partial(_enqueue, job.pk, correlation.get() or ""))


def batch_job_run(*, job_id: int) -> WorkResult:
    """One task's worth of work on a job, then its next task: at once while
    rows are due, or when a wait is over."""
    result = batch_job_work(job_id=job_id)
    if result.state == WorkState.MORE or (
        result.state == WorkState.WAITING
        and result.wait is not None
        and result.wait <= settings.BATCH_TIME_BUDGET_SECONDS
    ):
        # The next task has a whole budget to sleep out the wait in.
        transaction.on_commit(partial(_enqueue, job_id, correlation.get() or ""))
    elif result.state == WorkState.WAITING and result.wait is not None:
        _enqueue_later(job_id, result.wait)
    return result


def batch_rows_wake(*, rows: QuerySet) -> int:
    """Make the rows of ``rows`` that wait on their own (``Defer``: pending,
    due later) due now, and enqueue their running, uncancelled jobs on
    commit: what they waited for is back; rows leased now are marked, so
    one deferred after this is due at once. How many rows were woken. A job
    whose enqueue is lost is swept (it has rows due)."""
    now = database_now()
    running = BatchJob.objects.filter(
        status=BatchJobStatus.RUNNING,
        cancel_requested=False,
        row_model=rows.model._meta.label,
    )
    # By job first: the rows' due index (job, status, next try), not a
    # scan of every row of every send ever made.
    rows = rows.filter(job_id__in=list(running.values_list("pk", flat=True)))
    # Rows a worker holds now: marked first (their claim cleared their next
    # try), so one that meets the pause before this wake-up and defers
    # after it is due at once (``rows.defer``), not after a fresh wait.
    model = rows.model
    with transaction.atomic():
        held = locked_ids(rows.filter(status=BatchRowStatus.RUNNING))
        model.objects.filter(pk__in=held).update(next_attempt_at=now)
        waiting = rows.filter(
            status=BatchRowStatus.PENDING,
            defers__gt=0,
            next_attempt_at__gt=now,
        )
        job_ids = sorted(set(waiting.order_by().values_list("job_id", flat=True)))
        # Locked by id in the statement itself: ids through Python cost 4x
        # at 100k waiting rows, and SQLite caps an IN list's variables.
        woken = locked_update(waiting.filter(job_id__in=job_ids), next_attempt_at=now)
    for job_id in job_ids:
        transaction.on_commit(partial(_enqueue, job_id, correlation.get() or ""))
    return woken


def _enqueue(job_id: int, correlation_id: str = "") -> None:
    try:
        async_task(WORK_TASK, job_id, correlation_id, broker=shared_broker())
    except Exception as exc:
        # The job row says it is running: the sweeper enqueues it again.
        enqueue_failed("batch job", exc, {"job_id": job_id})


_WAKE_UP_PREFIX = "integrations.batch.job."


def _enqueue_later(job_id: int, seconds: float) -> None:
    """One wake-up per job (a django-q2 one-off schedule, which
    setup_schedules leaves alone): a later wait replaces an earlier one."""
    name = f"{_WAKE_UP_PREFIX}{job_id}"
    try:
        Schedule.objects.filter(name=name, schedule_type=Schedule.ONCE).delete()
        schedule(
            WORK_TASK,
            job_id,
            name=name,
            schedule_type=Schedule.ONCE,
            # From the database's clock, the one pacing is set by: a worker
            # whose clock is behind would otherwise wake the job early.
            next_run=database_now() + timedelta(seconds=seconds),
        )
    except Exception:
        # Two workers scheduling at once; or no schedule at all: the sweeper
        # enqueues the job once it has been left alone long enough.
        logger.exception(
            "batch job schedule failed; left for the sweeper", extra={"job_id": job_id}
        )


def batch_job_cancel(*, job_id: int) -> BatchJob:
    """Stop a job: nothing more is claimed, rows a worker is on finish, and
    the job is cancelled once none is leased. A settled job is left as is."""
    job = BatchJob.objects.get(pk=job_id)
    if job.status in state.FINAL:
        return job
    BatchJob.objects.filter(pk=job_id).update(cancel_requested=True)
    job.cancel_requested = True
    model = apps.get_model(job.row_model)
    # The database's clock, as started_at: a cancel from a machine whose
    # clock is behind must not end the job before it began.
    state.settle_cancel(job, model, database_now())
    logger.info("batch job cancel requested", extra={"job_id": job_id})
    job.refresh_from_db()
    return job


def batch_jobs_sweep(*, now: datetime | None = None) -> int:
    """Take back rows whose worker died, settle cancelled jobs, and enqueue
    running jobs no worker has touched for ``BATCH_SWEEP_AFTER_MINUTES``
    (unless their wake-up, set when all their rows wait, is still to come
    and none of their rows is due: rows taken back are due at once).
    Returns how many jobs were enqueued. By the database's clock, the one
    workers stamp leases, retries and pacing with, unless ``now`` is given."""
    now = now or database_now()
    running = BatchJob.objects.filter(status=BatchJobStatus.RUNNING)
    labels = set(running.values_list("row_model", flat=True))
    for label in labels:
        _release_expired(label, now)
    for job in running.filter(cancel_requested=True):
        state.settle_cancel(job, apps.get_model(job.row_model), now)
    stale = now - timedelta(minutes=settings.BATCH_SWEEP_AFTER_MINUTES)
    idle = (
        running.filter(cancel_requested=False)
        .filter(Q(paced_until__isnull=True) | Q(paced_until__lte=now))
        .filter(
            Q(worked_at__lte=stale) | Q(worked_at__isnull=True, started_at__lte=stale)
        )
        .exclude(_resting(labels, now))
    )
    ids = list(idle.order_by("pk").values_list("pk", flat=True)[:_SWEEP_LIMIT])
    for job_id in ids:
        _enqueue(job_id)
    if ids:
        logger.info("batch jobs swept", extra={"count": len(ids)})
    return len(ids)


def _resting(labels: set[str], now: datetime) -> Q:
    """Jobs whose rows all wait: their wake-up (``_enqueue_later``, the
    earliest waiting row) is still to come and no row is due now. Left to
    rest until then, then swept if it is lost. A row taken back from a dead
    worker is due now: its job is swept, not left to a wake-up that may be
    BATCH_DEFER_MAX_SECONDS away."""
    due = Q(pk__in=[])
    for label in labels:
        try:
            model = apps.get_model(label)
        except LookupError:
            continue
        rows = due_rows(model, OuterRef("pk"), now)  # type: ignore[arg-type]
        due |= Q(row_model=label) & Q(Exists(rows))
    return Q(Exists(_wake_ups(now))) & ~due


def _wake_ups(now: datetime) -> QuerySet:
    """The outer job's one-off wake-up still to come (``_enqueue_later``)."""
    name = Concat(Value(_WAKE_UP_PREFIX), Cast(OuterRef("pk"), CharField()))
    return Schedule.objects.filter(
        name=name, schedule_type=Schedule.ONCE, next_run__gt=now
    )


def _release_expired(label: str, now: datetime) -> None:
    try:
        model = apps.get_model(label)
    except LookupError:
        return  # its job fails when a worker next tries it
    dead, retrying = leases_for(model).release_expired(now)
    if not (dead or retrying):
        return
    logger.warning(
        "batch row leases expired",
        extra={"row_model": label, "dead": dead, "retrying": retrying},
    )
    if dead:
        # Rows given up on count as failed at once, not only when the job ends.
        jobs = BatchJob.objects.filter(status=BatchJobStatus.RUNNING, row_model=label)
        for job_id in jobs.values_list("pk", flat=True):
            state.recount(model, job_id)
