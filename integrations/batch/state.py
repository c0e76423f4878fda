"""A batch job's own row: started, progressed, paced, settled.

Counts move by each chunk's tally while workers run (cheap, one UPDATE per
chunk) and are counted again from the rows when the job settles, so a
worker killed between a row's commit and its chunk's tally leaves the final
figures right.
"""

import logging
from datetime import datetime, timedelta

from django.db.models import Count, F, Q
from django.utils import timezone

from integrations.batch.rows import open_rows
from integrations.leases import describe_error
from integrations.models import BatchJob, BatchJobStatus, BatchRow, BatchRowStatus

logger = logging.getLogger(__name__)

FINAL = frozenset(
    {BatchJobStatus.DONE, BatchJobStatus.CANCELLED, BatchJobStatus.FAILED}
)


def counts(model: type[BatchRow], job_id: int) -> dict[str, int]:
    """Total, done and failed, counted from the rows."""
    return model.objects.filter(job_id=job_id).aggregate(
        total=Count("pk"),
        done=Count("pk", filter=Q(status=BatchRowStatus.DONE)),
        failed=Count("pk", filter=Q(status=BatchRowStatus.FAILED)),
    )


def recount(model: type[BatchRow], job_id: int) -> None:
    BatchJob.objects.filter(pk=job_id).update(**counts(model, job_id))


def begin(job_id: int, now: datetime) -> BatchJob | None:
    """The job if a worker may work it now (started, not settled)."""
    job = BatchJob.objects.filter(pk=job_id).first()
    if job is None or job.status != BatchJobStatus.RUNNING:
        logger.info(
            "batch job not workable",
            extra={"job_id": job_id, "status": getattr(job, "status", None)},
        )
        return None
    BatchJob.objects.filter(pk=job_id).update(worked_at=now)
    return job


def add_progress(job_id: int, *, done: int, failed: int, now: datetime) -> None:
    BatchJob.objects.filter(pk=job_id).update(
        done=F("done") + done, failed=F("failed") + failed, worked_at=now
    )


def pace(job_id: int, seconds: float, now: datetime) -> datetime:
    """Make every worker of the job wait until ``now + seconds`` (a later
    pause already set stands)."""
    until = now + timedelta(seconds=seconds)
    BatchJob.objects.filter(pk=job_id).filter(
        Q(paced_until__isnull=True) | Q(paced_until__lt=until)
    ).update(paced_until=until)
    logger.info("batch job paced", extra={"job_id": job_id, "seconds": seconds})
    return until


def finish(job: BatchJob, model: type[BatchRow], now: datetime) -> bool:
    """Mark the job done if no row is left to work; True if it is."""
    if open_rows(model, job.pk).exists():
        return False
    final = counts(model, job.pk)
    updated = BatchJob.objects.filter(pk=job.pk, status=BatchJobStatus.RUNNING).update(
        status=BatchJobStatus.DONE, finished_at=now, paced_until=None, **final
    )
    if updated:
        extra = {"job_id": job.pk, "kind": job.kind, **final}
        logger.info("batch job done", extra=extra)
    return True


def fail(job: BatchJob, exc: BaseException, now: datetime) -> None:
    """The job itself cannot run (its handler or row model is gone)."""
    BatchJob.objects.filter(pk=job.pk).exclude(status__in=FINAL).update(
        status=BatchJobStatus.FAILED, last_error=describe_error(exc), finished_at=now
    )
    logger.error(
        "batch job failed",
        extra={"job_id": job.pk, "kind": job.kind, "error_type": type(exc).__name__},
    )


def settle_cancel(job: BatchJob, model: type[BatchRow], now: datetime) -> bool:
    """Mark a job whose cancel was asked for cancelled once no row of it is
    leased any more; True if it is settled (cancelled or already final)."""
    if open_rows(model, job.pk).filter(status=BatchRowStatus.RUNNING).exists():
        return False
    updated = (
        BatchJob.objects.filter(pk=job.pk, cancel_requested=True)
        .exclude(status__in=FINAL)
        .update(
            status=BatchJobStatus.CANCELLED,
            finished_at=now,
            paced_until=None,
            **counts(model, job.pk),
        )
    )
    if updated:
        logger.info("batch job cancelled", extra={"job_id": job.pk, "kind": job.kind})
    return True


def flags(job_id: int) -> tuple[bool, datetime | None]:
    """``(cancel requested, paced until)``, read fresh."""
    found = BatchJob.objects.filter(pk=job_id).values_list(
        "cancel_requested", "paced_until"
    )
    return next(iter(found), (True, None))  # a deleted job: stop


def seconds_until(moment: datetime | None, now: datetime | None = None) -> float:
    if moment is None:
        return 0.0
    return max((moment - (now or timezone.now())).total_seconds(), 0.0)
