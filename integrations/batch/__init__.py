"""Durable batch work: jobs made of many rows, each row done exactly once.

A domain defines a row model (inheriting ``integrations.models.BatchRow``)
or uses the generic ``BatchItem``, and a handler that takes one row; then
``batch_job_create`` stores the job with its rows and starts it. Workers
lease rows a chunk at a time, commit each row's status with the handler's
own writes, retry failures with backoff, pace the job when a provider rate
limits it (or let one row wait on its own: ``Defer``), and hand the job on
to a fresh task before ``Q_TIMEOUT``. See docs/batch.md.
"""

from integrations.batch.progress import (
    BatchProgress,
    batch_job_next_try,
    batch_job_progress,
    batch_job_waiting,
    local_moment,
    next_try_when,
    next_try_words,
    row_next_try,
)
from integrations.batch.rows import (
    PACE_CODES,
    Defer,
    Pace,
    defer_seconds,
    own_transactions,
    pace_seconds,
    relaxed_commit,
    relaxed_done,
)
from integrations.batch.services import (
    batch_items_add,
    batch_job_cancel,
    batch_job_create,
    batch_job_run,
    batch_job_start,
    batch_jobs_sweep,
    batch_rows_add,
    batch_rows_wake,
)
from integrations.batch.work import WorkResult, WorkState, batch_job_work

__all__ = [
    "PACE_CODES",
    "BatchProgress",
    "Defer",
    "Pace",
    "WorkResult",
    "WorkState",
    "batch_items_add",
    "batch_job_cancel",
    "batch_job_create",
    "batch_job_next_try",
    "batch_job_progress",
    "batch_job_run",
    "batch_job_start",
    "batch_job_waiting",
    "batch_job_work",
    "batch_jobs_sweep",
    "batch_rows_add",
    "batch_rows_wake",
    "defer_seconds",
    "local_moment",
    "next_try_when",
    "next_try_words",
    "own_transactions",
    "pace_seconds",
    "relaxed_commit",
    "relaxed_done",
    "row_next_try",
]
