"""Working a batch job: chunks of leased rows, within a time budget.

One call is one task's worth of work. It claims a chunk, runs the handler on
each row, tallies the chunk, and goes on until the job has nothing due, the
budget is spent (the chunk under way still finishes: keep chunks short
against ``Q_TIMEOUT``), the job is cancelled or it must wait (paced, or its
remaining rows back off). The caller decides from the result whether to
enqueue the job again.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings
from django.db.models import Min
from django.utils.module_loading import import_string

from integrations.batch import state
from integrations.batch.metrics import BATCH_ROWS
from integrations.batch.rows import (
    Handler,
    RowOutcome,
    claim_chunk,
    done_relaxed,
    due_rows,
    open_rows,
    release,
    row_model,
    work_row,
)
from integrations.clock import database_now
from integrations.models import BatchJob, BatchRow, BatchRowStatus

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], None]

# How often a worker looks at the job's cancel and pace flags mid-chunk.
FLAG_SECONDS = 1.0


class WorkState(StrEnum):
    STOPPED = "stopped"  # settled, cancelled or not workable: no more tasks
    MORE = "more"  # budget spent with rows left: enqueue again
    WAITING = "waiting"  # nothing due now (paced, backing off, leased elsewhere)


@dataclass(frozen=True)
class WorkResult:
    state: WorkState
    done: int = 0
    failed: int = 0
    retried: int = 0
    lost: int = 0
    wait: float | None = None  # seconds until rows are due, when known
    deferred: int = 0  # rows set to wait on their own (``Defer``)


@dataclass
class _Tally:
    done: int = 0
    failed: int = 0
    retried: int = 0
    lost: int = 0
    deferred: int = 0

    def add(self, outcome: RowOutcome) -> None:
        if outcome == RowOutcome.DONE:
            self.done += 1
        elif outcome == RowOutcome.FAILED:
            self.failed += 1
        elif outcome == RowOutcome.RETRY:
            self.retried += 1
        elif outcome == RowOutcome.LOST:
            self.lost += 1
        elif outcome == RowOutcome.DEFERRED:
            self.deferred += 1


def batch_job_work(
    *,
    job_id: int,
    budget_seconds: float | None = None,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
) -> WorkResult:
    """Work a started job for about ``budget_seconds`` (default
    ``BATCH_TIME_BUDGET_SECONDS``; 0: one chunk)."""
    if budget_seconds is None:
        budget_seconds = settings.BATCH_TIME_BUDGET_SECONDS
    job = state.begin(job_id, database_now())
    if job is None:
        return WorkResult(WorkState.STOPPED)
    try:
        handler = import_string(job.handler)
        model = row_model(job)
    except (ImportError, LookupError) as exc:
        state.fail(job, exc, database_now())
        return WorkResult(WorkState.STOPPED)
    run = _Run(job, model, handler, clock, sleep, clock() + budget_seconds)
    return run.loop()


class _Run:
    def __init__(
        self,
        job: BatchJob,
        model: type[BatchRow],
        handler: Handler,
        clock: Clock,
        sleep: Sleep,
        deadline: float,
    ) -> None:
        self.job, self.model, self.handler = job, model, handler
        self.clock, self.sleep, self.deadline = clock, sleep, deadline
        self.tally = _Tally()
        self.flags_read_at = clock()

    def result(self, work_state: WorkState, wait: float | None = None) -> WorkResult:
        t = self.tally
        return WorkResult(
            work_state, t.done, t.failed, t.retried, t.lost, wait, t.deferred
        )

    def loop(self) -> WorkResult:
        while True:
            stop = self._before_chunk()
            if stop is not None:
                return stop
            # The database's clock, as every stamp the sweep or another
            # worker compares (integrations.clock): leases, retries, pacing.
            chunk = claim_chunk(
                self.model, self.job.pk, self.job.chunk_size, database_now()
            )
            if not chunk:
                stop = self._nothing_due()
                if stop is not None:
                    return stop
                continue
            self._work_chunk(chunk)
            if self.clock() >= self.deadline:
                return self._out_of_budget()

    def _before_chunk(self) -> WorkResult | None:
        """Stop for a cancel; wait out a pause the budget can hold."""
        cancel, paced_until = state.flags(self.job.pk)
        self.flags_read_at = self.clock()
        if cancel:
            state.settle_cancel(self.job, self.model, database_now())
            return self.result(WorkState.STOPPED)
        if paced_until is None:
            return None
        return self._wait(state.seconds_until(paced_until, database_now()))

    def _wait(self, seconds: float) -> WorkResult | None:
        """Sleep ``seconds`` if the budget allows (None: go on), else stop
        with WAITING."""
        if seconds <= 0:
            return None
        if self.clock() + seconds > self.deadline:
            return self.result(WorkState.WAITING, seconds)
        self.sleep(seconds)
        return None

    def _nothing_due(self) -> WorkResult | None:
        now = database_now()
        if state.finish(self.job, self.model, now):
            return self.result(WorkState.STOPPED)
        pending = open_rows(self.model, self.job.pk).filter(
            status=BatchRowStatus.PENDING
        )
        next_due = pending.aggregate(at=Min("next_attempt_at"))["at"]
        if next_due is None:
            # Only leased rows are left: their workers (or, for a dead one,
            # the sweeper) see the job through.
            return self.result(WorkState.WAITING)
        return self._wait(state.seconds_until(next_due, now))

    def _out_of_budget(self) -> WorkResult:
        """MORE if rows are due now; else why the job need not go on yet."""
        if due_rows(self.model, self.job.pk, database_now()).exists():
            return self.result(WorkState.MORE)
        return self._nothing_due() or self.result(WorkState.MORE)

    def _work_chunk(self, chunk: list[BatchRow]) -> None:
        chunk_tally = _Tally()
        for row in chunk:
            row.job = self.job
        self._chunk_hook("prepare_chunk", chunk)
        deferred: list[BatchRow] = []
        flushed = self.clock()
        try:
            for index, row in enumerate(chunk):
                if self._stop_requested():
                    release(self.model, chunk[index:])
                    break
                if deferred and self.clock() - flushed >= FLAG_SECONDS:
                    # A slow (paced) chunk: a worker killed now loses at most
                    # a second's dones, not the chunk's.
                    self._done_deferred(deferred, chunk_tally)
                    deferred, flushed = [], self.clock()
                result = work_row(self.model, row, self.handler, deferred=deferred)
                if not result.deferred:
                    self._count(chunk_tally, result.outcome)
                if result.outcome == RowOutcome.PACED:
                    state.pace(self.job.pk, result.wait or 0.0, database_now())
                    release(self.model, chunk[index + 1 :])
                    break
        finally:
            self._done_deferred(deferred, chunk_tally)
        self._chunk_hook("finish_chunk", chunk)
        state.add_progress(
            self.job.pk,
            done=chunk_tally.done,
            failed=chunk_tally.failed,
            now=database_now(),
        )
        logger.debug(
            "batch chunk worked",
            extra={"job_id": self.job.pk, "rows": len(chunk), "done": chunk_tally.done},
        )

    def _count(self, chunk_tally: "_Tally", outcome: RowOutcome) -> None:
        BATCH_ROWS.labels(self.job.kind, outcome).inc()
        chunk_tally.add(outcome)
        self.tally.add(outcome)

    def _done_deferred(self, rows: list[BatchRow], chunk_tally: "_Tally") -> None:
        """Mark the chunk's worked rows done in one statement (a worker
        killed before it leaves them leased: worked again, each is a no-op
        by its handler's marker)."""
        if not rows:
            return
        marked = done_relaxed(self.model, rows)
        for row in rows:
            if row.pk in marked:
                self._count(chunk_tally, RowOutcome.DONE)
                continue
            logger.warning(
                "batch row lease lost", extra={"job_id": row.job_id, "row_id": row.pk}
            )
            self._count(chunk_tally, RowOutcome.LOST)

    def _chunk_hook(self, name: str, chunk: list[BatchRow]) -> None:
        """A handler's optional ``prepare_chunk(rows)`` (read once what the
        rows need) or ``finish_chunk(rows)`` (write once what they made).
        Speed only: a failing hook is logged, each row still stands alone."""
        hook = getattr(self.handler, name, None)
        if hook is None:
            return
        try:
            hook(chunk)
        except Exception:
            logger.exception(
                "batch chunk hook failed", extra={"job_id": self.job.pk, "hook": name}
            )

    def _stop_requested(self) -> bool:
        """Cancelled or paced meanwhile (read at most every FLAG_SECONDS):
        leased rows not yet started go back."""
        if self.clock() - self.flags_read_at < FLAG_SECONDS:
            return False
        self.flags_read_at = self.clock()
        cancel, paced_until = state.flags(self.job.pk)
        return cancel or state.seconds_until(paced_until) > 0
