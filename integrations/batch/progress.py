"""How far a batch job has got, for the admin and commands."""

from dataclasses import dataclass
from datetime import datetime

from django.apps import apps
from django.db.models import Min, QuerySet
from django.utils import timezone

from integrations.clock import database_now
from integrations.models import BatchItem, BatchJob, BatchRow, BatchRowStatus


@dataclass(frozen=True)
class BatchProgress:
    job_id: int
    kind: str
    name: str
    status: str
    total: int
    done: int
    failed: int
    cancel_requested: bool
    paced_until: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    rate: float | None  # rows settled (done or failed) per second
    # The moment the progress was read, on the clock the job was stamped by.
    as_of: datetime | None = None

    @property
    def settled(self) -> int:
        return self.done + self.failed

    @property
    def remaining(self) -> int:
        return max(self.total - self.settled, 0)

    @property
    def percent(self) -> float:
        if not self.total:
            return 100.0 if self.finished_at else 0.0
        return 100.0 * min(self.settled, self.total) / self.total

    @property
    def eta_seconds(self) -> float | None:
        if self.finished_at or not self.rate:
            return None
        return self.remaining / self.rate

    def summary(self) -> str:
        """One line: ``120/1000 done, 3 failed (12.3%), 40.1 rows/s, ~22s left``."""
        parts = [f"{self.done}/{self.total} done, {self.failed} failed"]
        parts[0] += f" ({self.percent:.1f}%)"
        if self.rate is not None:
            parts.append(f"{self.rate:.1f} rows/s")
        if self.eta_seconds is not None:
            parts.append(f"~{_duration(self.eta_seconds)} left")
        if self.cancel_requested and not self.finished_at:
            parts.append("cancelling")
        if self.paced_until and self.paced_until > (self.as_of or timezone.now()):
            parts.append(f"paced until {self.paced_until:%H:%M:%S}")
        return ", ".join(parts)


def batch_job_progress(job: BatchJob, *, now: datetime | None = None) -> BatchProgress:
    """Progress from the job's counts (kept per chunk; exact once settled).
    ``now`` defaults to the database's clock, the one the job is stamped by."""
    now = now or database_now()
    rate = None
    if job.started_at is not None:
        elapsed = ((job.finished_at or now) - job.started_at).total_seconds()
        if elapsed > 0:
            rate = (job.done + job.failed) / elapsed
    return BatchProgress(
        job_id=job.pk,
        kind=job.kind,
        name=job.name,
        status=job.status,
        total=job.total,
        done=job.done,
        failed=job.failed,
        cancel_requested=job.cancel_requested,
        paced_until=job.paced_until,
        started_at=job.started_at,
        finished_at=job.finished_at,
        rate=rate,
        as_of=now,
    )


def batch_job_waiting(job: BatchJob) -> QuerySet:
    """The job's rows waiting to be tried again (backing off, or waiting
    alone: ``Defer``), the first due first; none when its row model is gone.
    A row whose next try has passed (the job resting until its sweep) is
    among them: shown as due now (``next_try_when``), not left out."""
    try:
        model = apps.get_model(job.row_model)
    except (LookupError, ValueError):
        return BatchItem.objects.none()  # any row model: none of its rows
    return model.objects.filter(
        job_id=job.pk,
        status=BatchRowStatus.PENDING,
        next_attempt_at__isnull=False,
    ).order_by("next_attempt_at", "pk")


def batch_job_next_try(job: BatchJob) -> datetime | None:
    """When the job's first waiting row is tried again; None when none
    waits."""
    return batch_job_waiting(job).aggregate(at=Min("next_attempt_at"))["at"]


def row_next_try(row: BatchRow) -> datetime | None:
    """When a pending row is tried again (its waits grow while a pause
    lasts: ``rows.defer_seconds``); None for a row not waiting."""
    if row.status != BatchRowStatus.PENDING:
        return None
    return row.next_attempt_at


def local_moment(at: datetime) -> str:
    """``at`` as staff read a next try (admin, ``batch_jobs``): local time
    (TIME_ZONE), to the second, with its zone."""
    return f"{timezone.localtime(at):%Y-%m-%d %H:%M:%S %Z}"


def next_try_when(at: datetime, *, now: datetime | None = None) -> str:
    """A next try for staff: its local time while ahead; once passed, "due
    now (overdue since ...)" (a past time after "next try" read as a try
    already made). ``now``: the database's time, read once for many."""
    if at > (now or database_now()):
        return local_moment(at)
    return f"due now (overdue since {local_moment(at)})"


def next_try_words(at: datetime, *, now: datetime | None = None) -> str:
    """What follows "next try": "at <local time>", or "due now (...)"."""
    when = next_try_when(at, now=now)
    return when if when.startswith("due") else f"at {when}"


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
