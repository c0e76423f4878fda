"""List batch jobs, show one, or cancel one.

    manage.py batch_jobs                 # the latest jobs, one line each
    manage.py batch_jobs list --status running --limit 50
    manage.py batch_jobs show 42         # progress, the failed and waiting rows
    manage.py batch_jobs cancel 42

Times are shown in TIME_ZONE, with its zone named. Bad input gets one line on
stderr and a non-zero exit status.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.apps import apps
from django.core.management.base import CommandError, CommandParser
from django.db.models import QuerySet

from integrations.batch import (
    batch_job_cancel,
    batch_job_next_try,
    batch_job_progress,
    batch_job_waiting,
    local_moment,
    next_try_when,
    next_try_words,
)
from integrations.clock import database_now
from integrations.management.base import ProviderCommand
from integrations.models import BatchJob, BatchJobStatus, BatchRow, BatchRowStatus

ACTIONS = ("list", "show", "cancel")
# More than anyone reads in a terminal; far below PostgreSQL's bigint LIMIT.
MAX_LIMIT = 100_000
# show: failed rows listed, and how much of each one's error.
FAILED_SHOWN = 50
ERROR_CHARS = 300


class Command(ProviderCommand):
    help = "List batch jobs with their progress, show one, or cancel one."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "action", nargs="?", default="list", help="list, show, cancel"
        )
        parser.add_argument("job_id", nargs="?", help="The job's id (show, cancel).")
        parser.add_argument("--status", help="list: only jobs in this status.")
        parser.add_argument("--limit", default="20", help="list: at most this many.")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action not in ACTIONS:
            raise CommandError(
                f"Unknown action '{action}': use list, show ID or cancel ID."
            )
        if action == "list":
            limit = _number(options["limit"], "--limit")
            if limit > MAX_LIMIT:
                raise CommandError(f"--limit must be at most {MAX_LIMIT}, not {limit}.")
            self._list(options["status"], limit)
            return
        if options["job_id"] is None:
            raise CommandError(f"'{action}' needs a job id: batch_jobs {action} ID.")
        job = _job(_number(options["job_id"], "Job id"))
        if action == "show":
            self._show(job)
        else:
            self._cancel(job)

    def _list(self, status: str | None, limit: int) -> None:
        jobs = BatchJob.objects.order_by("-created_at", "-pk")
        if status is not None:
            if status not in BatchJobStatus.values:
                choices = ", ".join(BatchJobStatus.values)
                raise CommandError(f"Unknown status '{status}': use one of {choices}.")
            jobs = jobs.filter(status=status)
        jobs = list(jobs[:limit])
        if not jobs:
            self.stdout.write("No batch jobs.")
            return
        for job in jobs:
            progress = batch_job_progress(job)
            title = _printable(f"{job.kind} {job.name}".strip())
            self.stdout.write(
                f"#{job.pk}  {job.status:<9}  {title}  {progress.summary()}"
            )

    def _show(self, job: BatchJob) -> None:
        progress = batch_job_progress(job)
        lines = [
            _printable(f"Batch job #{job.pk}: {job.kind} {job.name}".rstrip()),
            f"  status     {job.status}"
            + (" (cancel requested)" if job.cancel_requested else ""),
            f"  progress   {progress.summary()}",
            f"  rows       {job.row_model}, chunks of {job.chunk_size}",
            f"  handler    {job.handler}",
            f"  created    {local_moment(job.created_at)}",
        ]
        for label, moment in (
            ("started", job.started_at),
            ("finished", job.finished_at),
        ):
            if moment is not None:
                lines.append(f"  {label:<10} {local_moment(moment)}")
        if job.last_error:
            lines.append(f"  error      {_printable(job.last_error)}")
        waiting = batch_job_waiting(job)
        at = batch_job_next_try(job)
        now = database_now()
        if at is not None:
            count = waiting.count()
            when = next_try_when(at, now=now)
            lines.append(f"  next try   {when} ({count} row(s) waiting)")
        lines.extend(_failed_rows(job))
        lines.extend(_waiting_rows(waiting, now))
        self.stdout.write("\n".join(lines))

    def _cancel(self, job: BatchJob) -> None:
        # A second cancel did nothing: say so, as for a finished job.
        ended = (BatchJobStatus.DONE, BatchJobStatus.FAILED, BatchJobStatus.CANCELLED)
        if job.status in ended:
            raise CommandError(f"Batch job #{job.pk} is already {job.status}.")
        job = batch_job_cancel(job_id=job.pk)
        if job.status == BatchJobStatus.CANCELLED:
            self.stdout.write(self.style.SUCCESS(f"Batch job #{job.pk} cancelled."))
        else:
            self.stdout.write(
                f"Batch job #{job.pk}: cancel requested; it stops once the rows "
                "in flight finish."
            )


def _number(text: str, what: str) -> int:
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise CommandError(f"{what} must be a whole number, not '{text}'.") from None
    if value < 1:
        raise CommandError(f"{what} must be 1 or more, not {value}.")
    return value


def _failed_rows(job: BatchJob) -> list[str]:
    """A line per failed row (its id, what it is, its attempts and stored
    error), the first FAILED_SHOWN in id order, then how many more."""
    try:
        model = apps.get_model(job.row_model)
    except (LookupError, ValueError):
        return [f"  failed rows: unknown row model {job.row_model!r}"]
    failed = model.objects.filter(job_id=job.pk, status=BatchRowStatus.FAILED)
    return _row_lines("failed rows", failed.order_by("pk"), lambda row: "")


def _waiting_rows(waiting: QuerySet, now: datetime) -> list[str]:
    """The same for the rows waiting to be tried again, each with its next
    try (``due now`` once passed), the first due first."""
    return _row_lines(
        "waiting rows",
        waiting,
        lambda row: f", next try {next_try_words(row.next_attempt_at, now=now)}",
    )


def _row_lines(
    title: str, rows_of: QuerySet, note: Callable[[BatchRow], str]
) -> list[str]:
    """Under ``title`` a line per row of ``rows_of`` (its id, what it is, its
    attempts, ``note``, its stored error), the first FAILED_SHOWN in the
    queryset's order, then how many more."""
    rows = list(rows_of[:FAILED_SHOWN])
    if not rows:
        return []
    more = rows_of.count() - len(rows) if len(rows) == FAILED_SHOWN else 0
    lines = [f"  {title}"]
    for row in rows:
        error = _printable(" ".join(row.last_error.split())[:ERROR_CHARS])
        lines.append(
            f"    #{row.pk} {_printable(str(row))} ({row.attempts} attempt(s))"
            f"{note(row)}: {error or '(no error stored)'}"
        )
    if more > 0:
        lines.append(f"    ... and {more} more")
    return lines


def _printable(text: str) -> str:
    """A job's name (a storefront's bulk send names it), a row's key or an
    error is data: escape what would move the terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _job(job_id: int) -> BatchJob:
    job = BatchJob.objects.filter(pk=job_id).first()
    if job is None:
        raise CommandError(f"No batch job #{job_id}.")
    return job
