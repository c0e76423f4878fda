"""The rows of a batch job: leased a chunk at a time, each finished once.

Claims, finishing, backoff and expired leases are integrations.leases' (the
life cycle webhook events and outbox deliveries share), with one mapping: a
row waiting for its retry is ``pending`` again, with ``next_attempt_at`` set,
and a row out of attempts is ``failed``.
"""

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, router, transaction
from django.db.models import Case, F, Q, QuerySet, Value, When

from integrations.client.call_rows import RELAXED_FROM
from integrations.client.classify import retry_after_ceiling
from integrations.clock import database_now, stamp
from integrations.errors import NotProcessed, Outcome, ProviderError
from integrations.leases import ClaimLost, LeasedRows, describe_error
from integrations.models import BatchJob, BatchRow, BatchRowStatus
from integrations.rows import locked_by_id

logger = logging.getLogger(__name__)

Handler = Callable[[Any], None]

# Provider answers that mean "slow down", not "this row is wrong": a 429,
# our own limiter's refusal after its bounded wait, no free concurrency slot,
# a paced client call that could not go out within its budget (``Paced``).
PACE_CODES = frozenset(
    {"too_many_requests", "rate_limited", "concurrency_limited", "paced"}
)

_LOST = "worker lost while working the row (lease expired)"


class Pace(Exception):
    """Raised by a handler to make the job wait ``retry_after`` seconds; the
    row goes back unworked and no attempt is counted."""

    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__(f"pace for {retry_after} s")
        self.retry_after = retry_after


class Defer(Exception):
    """Raised by a handler when this row alone must wait ``retry_after``
    seconds (BATCH_PACE_SECONDS if None): something only it needs is paused.
    The row goes back unworked, its attempt given back, due again then with
    ``reason`` on it; the job goes on with its other rows (``Pace`` would
    stop them all). ``retry_after`` is believed up to BATCH_DEFER_MAX_SECONDS
    (or BREAKER_MAX_RETRY_AFTER_SECONDS if longer). Each further defer of the
    row doubles its wait, up to BATCH_DEFER_MAX_SECONDS (``defer_seconds``)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def own_transactions(handler: Handler) -> Handler:
    """Mark ``handler`` as one that runs outside the row's transaction and
    commits its own writes: a handler that calls a provider and must commit
    a "sending" marker first, so a crash mid-call is seen, never repeated.
    The row moves to done after it returns; a worker killed in between
    leaves the row to be worked again, which the handler's marker makes a
    no-op."""
    handler.own_transactions = True  # type: ignore[attr-defined]
    return handler


def relaxed_done(handler: Handler) -> Handler:
    """Mark an ``own_transactions`` handler whose rows' done may commit
    without waiting for the disk (``relaxed_commit``): a done lost in a
    database crash leaves the row to be worked again, which the handler's
    marker makes a no-op, as for a worker killed before the commit."""
    handler.relaxed_done = True  # type: ignore[attr-defined]
    return handler


@contextmanager
def relaxed_commit(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """A transaction whose commit does not wait for the WAL flush
    (PostgreSQL ``synchronous_commit`` off for it alone, ~1 ms saved): only
    for writes a database crash may lose because redoing them is harmless.
    Inside a caller's transaction it is a plain nested block."""
    conn = connections[using]
    outermost = not conn.in_atomic_block
    with transaction.atomic(using=using):
        if outermost and conn.vendor == "postgresql":
            with conn.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield


def done_relaxed(model: type[BatchRow], rows: Sequence[BatchRow]) -> set[int]:
    """Mark ``rows`` done, each only while its claim stands, committed
    without waiting for the disk; returns the pks marked (the others' leases
    were lost). On PostgreSQL in autocommit one UPDATE per claim time
    carrying ``RELAXED_FROM`` (no SET LOCAL transaction), else
    ``relaxed_commit``. Stamped done by the database's clock, the one the
    claim was stamped by (``integrations.clock``)."""
    conn = connections[router.db_for_write(model)]
    marked: set[int] = set()
    for claimed_at in {row.claimed_at for row in rows}:
        ids = [row.pk for row in rows if row.claimed_at == claimed_at]
        if conn.vendor != "postgresql" or conn.in_atomic_block:
            with relaxed_commit(conn.alias):
                held = model.objects.filter(
                    pk__in=ids, status=BatchRowStatus.RUNNING, claimed_at=claimed_at
                )
                found = locked_ids(held)
                model.objects.filter(pk__in=found).update(
                    status=BatchRowStatus.DONE,
                    last_error="",
                    next_attempt_at=None,
                    done_at=stamp(),
                )
            marked.update(found)
            continue
        with conn.cursor() as cursor:
            params = [BatchRowStatus.DONE, *ids, BatchRowStatus.RUNNING]
            cursor.execute(_done_sql(model, len(ids)), [*params, claimed_at])
            marked.update(pk for (pk,) in cursor.fetchall())
    return marked


def _done_sql(model: type[BatchRow], count: int) -> str:
    """The rows are locked by id first (``locked``), as ``locked_ids`` does:
    in the UPDATE's plan order it could deadlock with a wake-up."""
    meta = model._meta
    col = {name: meta.get_field(name).column for name in _DONE_COLUMNS}
    table, pk = f'"{meta.db_table}"', f'"{meta.pk.column}"'
    marks = ", ".join(["%s"] * count)
    return (
        f'UPDATE {table} SET "{col["status"]}" = %s, '  # noqa: S608
        f'"{col["last_error"]}" = \'\', "{col["next_attempt_at"]}" = NULL, '
        f'"{col["done_at"]}" = statement_timestamp() FROM {RELAXED_FROM}, '
        f"(SELECT {pk} FROM {table} WHERE {pk} IN ({marks}) "
        f'AND "{col["status"]}" = %s AND "{col["claimed_at"]}" = %s '
        f"ORDER BY {pk} FOR UPDATE) AS locked "
        f"WHERE {table}.{pk} = locked.{pk} RETURNING {table}.{pk}"
    )


_DONE_COLUMNS = ("status", "last_error", "next_attempt_at", "done_at", "claimed_at")


def pace_seconds(exc: BaseException) -> float | None:
    """How long the job (or, for ``Defer``, the row) should wait if ``exc``
    is a pacing signal, else None."""
    paced = isinstance(exc, Pace | Defer) or (
        isinstance(exc, NotProcessed) and exc.code in PACE_CODES
    )
    if not paced:
        return None
    wait = getattr(exc, "retry_after", None)
    if wait is not None:
        # A wait not read by parse_retry_after (a handler's Pace, a number in
        # a provider's body) is bounded the same way: state.pace must not
        # overflow a datetime or park the job for years. A row waiting alone
        # (Defer: a quota until tomorrow) may wait as long as its waits grow
        # to (BATCH_DEFER_MAX_SECONDS), never less than a Retry-After's cap.
        ceiling = retry_after_ceiling()
        if isinstance(exc, Defer):
            ceiling = max(ceiling, float(settings.BATCH_DEFER_MAX_SECONDS))
        wait = 0.0 if math.isnan(wait) else min(max(wait, 0.0), ceiling)
    # No (or a zero) Retry-After still means "not now".
    return float(wait) if wait else float(settings.BATCH_PACE_SECONDS)


class RowOutcome(StrEnum):
    DONE = "done"
    RETRY = "retry"  # failed, pending again after the backoff
    FAILED = "failed"  # out of attempts
    LOST = "lost"  # the lease expired meanwhile: rolled back, not ours
    PACED = "paced"
    DEFERRED = "deferred"  # this row alone waits; neither done nor failed


@dataclass(frozen=True)
class RowResult:
    outcome: RowOutcome
    wait: float | None = None  # seconds, for PACED
    deferred: bool = False  # DONE once the chunk's rows are marked done


def row_model(job: BatchJob) -> type[BatchRow]:
    model = apps.get_model(job.row_model)
    if not issubclass(model, BatchRow):
        raise LookupError(f"{job.row_model} is not a batch row model")
    return model


@cache
def leases_for(model: type[BatchRow]) -> LeasedRows:
    return LeasedRows(
        model=model,
        waiting=BatchRowStatus.PENDING,
        running=BatchRowStatus.RUNNING,
        failed=BatchRowStatus.PENDING,
        dead=BatchRowStatus.FAILED,
        created_field="job__created_at",
        settings_prefix="BATCH",
        lease_setting="BATCH_LEASE_SECONDS",
        lost_error=_LOST,
    )


def due_rows(model: type[BatchRow], job_id: int, now: datetime) -> QuerySet:
    """A job's pending rows that may be tried now."""
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    return model.objects.filter(job_id=job_id, status=BatchRowStatus.PENDING).filter(
        due
    )


def open_rows(model: type[BatchRow], job_id: int) -> QuerySet:
    """Rows not yet settled: pending (due or backing off) or leased."""
    return model.objects.filter(
        job_id=job_id, status__in=[BatchRowStatus.PENDING, BatchRowStatus.RUNNING]
    )


def claim_chunk(
    model: type[BatchRow], job_id: int, size: int, now: datetime
) -> list[BatchRow]:
    """Lease up to ``size`` due rows of a job, oldest first.

    On PostgreSQL ``FOR UPDATE SKIP LOCKED`` hands rows another worker is
    claiming to nobody twice and makes nobody wait for them; on SQLite the
    transaction is IMMEDIATE (settings), so claims run one at a time.
    """
    with transaction.atomic():
        candidates = (
            due_rows(model, job_id, now)
            .order_by("pk")
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)
        )
        ids = list(candidates[:size])
        if not ids:
            return []
        # No next try while leased: one set meanwhile marks a wake-up
        # (``batch_rows_wake``), which ``defer`` then honours.
        model.objects.filter(pk__in=ids, status=BatchRowStatus.PENDING).update(
            status=BatchRowStatus.RUNNING,
            claimed_at=now,
            attempts=F("attempts") + 1,
            next_attempt_at=None,
        )
    # The ids were locked (or the database serialised): all of them are ours.
    return list(
        model.objects.filter(
            pk__in=ids, status=BatchRowStatus.RUNNING, claimed_at=now
        ).order_by("pk")
    )


def release(model: type[BatchRow], rows: Sequence[BatchRow]) -> int:
    """Hand leased rows back unworked (cancel, pacing): pending again, and
    the attempt their claim counted is given back."""
    released = 0
    for claimed_at in {row.claimed_at for row in rows}:
        ids = [row.pk for row in rows if row.claimed_at == claimed_at]
        with transaction.atomic():
            held = model.objects.filter(
                pk__in=ids, status=BatchRowStatus.RUNNING, claimed_at=claimed_at
            )
            released += model.objects.filter(pk__in=locked_ids(held)).update(
                status=BatchRowStatus.PENDING,
                claimed_at=None,
                attempts=F("attempts") - 1,
            )
    return released


def locked_ids(rows: QuerySet) -> list[int]:
    """Lock ``rows`` (theirs alone, not joined ones) by id; their ids. A
    wake-up's mark, a chunk's done or hand-back lock so (``locked_by_id``:
    why). In a transaction."""
    return list(locked_by_id(rows).values_list("pk", flat=True))


def defer(model: type[BatchRow], row: BatchRow, reason: str, wait: float) -> int:
    """Hand a leased row back to wait on its own: pending, its attempt given
    back, due after ``defer_seconds(wait, row.defers)`` by the database's
    clock (which every worker's due_rows reads), ``reason`` kept for staff;
    due now if a wake-up marked it while it was leased (``batch_rows_wake``:
    what it waited for came back during this try)."""
    now = database_now()
    later = now + timedelta(seconds=defer_seconds(wait, row.defers))
    woken = When(next_attempt_at__isnull=False, then=Value(now))
    return model.objects.filter(
        pk=row.pk, status=BatchRowStatus.RUNNING, claimed_at=row.claimed_at
    ).update(
        status=BatchRowStatus.PENDING,
        claimed_at=None,
        attempts=F("attempts") - 1,
        defers=F("defers") + 1,
        next_attempt_at=Case(woken, default=Value(later)),
        last_error=reason[:2000],
    )


def defer_seconds(wait: float, defers: int) -> float:
    """A row's wait after ``defers`` earlier ones (since its last real
    attempt): ``wait`` doubling each time up to BATCH_DEFER_MAX_SECONDS
    (never below ``wait``). A long pause
    met by many rows would otherwise have them worked again every ``wait``,
    each pass longer than the wait itself, and the workers never rest."""
    ceiling = max(float(settings.BATCH_DEFER_MAX_SECONDS), wait)
    if defers >= 64:  # 2**64 x any wait is past every ceiling
        return ceiling
    return min(wait * 2**defers, ceiling)


def work_row(
    model: type[BatchRow],
    row: BatchRow,
    handler: Handler,
    *,
    deferred: list[BatchRow] | None = None,
) -> RowResult:
    """Run the handler on one leased row and settle the row.

    The handler's database writes and the row's move to done commit
    together; if the lease was lost meanwhile, both roll back. A
    ``relaxed_done`` handler's row is added to ``deferred`` instead, for the
    caller to mark done with the chunk's others (``done_relaxed``).
    """
    leases = leases_for(model)
    try:
        if getattr(handler, "own_transactions", False):
            # It commits its own marker before any provider call (see
            # own_transactions); only the row's done is ours to commit.
            handler(row)
            if getattr(handler, "relaxed_done", False):
                if deferred is None:
                    deferred = []
                    if row.pk not in done_relaxed(model, [row]):
                        raise ClaimLost
                else:
                    deferred.append(row)
                    return RowResult(RowOutcome.DONE, deferred=True)
            else:
                with transaction.atomic():
                    leases.finish(row, BatchRowStatus.DONE, done_at=stamp())
        else:
            with transaction.atomic():
                handler(row)
                leases.finish(row, BatchRowStatus.DONE, done_at=stamp())
    except ClaimLost:
        logger.warning(
            "batch row lease lost", extra={"job_id": row.job_id, "row_id": row.pk}
        )
        return RowResult(RowOutcome.LOST)
    except Exception as exc:
        # The job boundary: a handler's error stays on its row, never stops
        # the job.
        wait = pace_seconds(exc)
        if wait is not None and isinstance(exc, Defer):
            return _defer_row(model, row, exc, wait)
        if wait is not None:
            release(model, [row])
            return RowResult(RowOutcome.PACED, wait)
        return _record_failure(leases, row, exc)
    return RowResult(RowOutcome.DONE)


def _defer_row(
    model: type[BatchRow], row: BatchRow, exc: Defer, wait: float
) -> RowResult:
    if not defer(model, row, exc.reason, wait):
        # Taken back meanwhile (lease expired): the row is the other worker's.
        logger.warning(
            "batch row lease lost", extra={"job_id": row.job_id, "row_id": row.pk}
        )
        return RowResult(RowOutcome.LOST)
    seconds = defer_seconds(wait, row.defers)
    logger.info(
        "batch row deferred",
        extra={"job_id": row.job_id, "row_id": row.pk, "seconds": seconds},
    )
    return RowResult(RowOutcome.DEFERRED, seconds)


def _record_failure(leases: LeasedRows, row: BatchRow, exc: Exception) -> RowResult:
    if isinstance(exc, ProviderError) and exc.outcome == Outcome.REJECTED:
        # The provider said no: asking again gets the same answer.
        leases.held(row).update(
            status=BatchRowStatus.FAILED,
            last_error=describe_error(exc),
            next_attempt_at=None,
        )
        status = BatchRowStatus.FAILED
    else:
        # Due again after the backoff by the database's clock, which every
        # worker's due_rows reads (integrations.clock). A real attempt ends
        # the pause its defers measured: a new one starts at the first wait.
        status = leases.fail(row, exc, defers=0)
    outcome = RowOutcome.FAILED if status == BatchRowStatus.FAILED else RowOutcome.RETRY
    log = logger.error if outcome == RowOutcome.FAILED else logger.warning
    log(
        "batch row failed",
        extra={
            "job_id": row.job_id,
            "row_id": row.pk,
            "attempts": row.attempts,
            "status": status,
            "error_type": type(exc).__name__,
        },
    )
    return RowResult(outcome)
