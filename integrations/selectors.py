"""Reads for the integrations dashboard and ``check_integrations``.

Call figures come from the ``ProviderCall`` log. Errors are the outcomes that
say the provider failed us (``not_processed``, ``unknown``); ``rejected`` is
the provider answering "no" and counts as a call that worked, as it does for
the breaker. ``in_progress`` rows are not finished and are left out.

Percentiles use the nearest-rank method (always a latency that was actually
observed) and are computed in Python over the window's durations: an hour of
calls per account is a list of integers, cheap to sort.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from integrations.breaker import BreakerSnapshot
from integrations.breaker.machine import breaker_snapshot_read
from integrations.models import HealthCheckResult, ProviderAccount
from integrations.models.calls import CallOutcome, ProviderCall

ERROR_OUTCOMES = (CallOutcome.NOT_PROCESSED, CallOutcome.UNKNOWN)
FINISHED_OUTCOMES = (
    CallOutcome.SUCCESS,
    CallOutcome.REJECTED,
    *ERROR_OUTCOMES,
)
WINDOW = timedelta(hours=1)
BUCKETS = 12


@dataclass(frozen=True)
class CallBucket:
    start: datetime
    calls: int
    errors: int
    p95_ms: int | None


@dataclass(frozen=True)
class CallStats:
    calls: int
    errors: int
    p50_ms: int | None
    p95_ms: int | None
    buckets: list[CallBucket] = field(default_factory=list)

    @property
    def error_rate(self) -> float | None:
        """Share of calls that failed, 0..1; None without calls."""
        return self.errors / self.calls if self.calls else None


@dataclass(frozen=True)
class ErrorNote:
    """The most recent thing that went wrong with an account."""

    source: str  # "probe" or "call"
    text: str
    at: datetime


@dataclass(frozen=True)
class AccountOverview:
    account: ProviderAccount
    health: HealthCheckResult | None
    breaker: BreakerSnapshot
    stats: CallStats
    last_error: ErrorNote | None


def percentile(values: Sequence[int], q: float) -> int | None:
    """Nearest-rank ``q``-th percentile (0 < q <= 100) of ``values``."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def breaker_snapshot(account: ProviderAccount) -> BreakerSnapshot:
    """For display: the state None (unknown) while Redis is unreachable."""
    return breaker_snapshot_read(account)


def latest_health(account: ProviderAccount) -> HealthCheckResult | None:
    try:
        return account.health
    except HealthCheckResult.DoesNotExist:
        return None


def call_stats_by_account(
    *, since: datetime, until: datetime, buckets: int = BUCKETS
) -> dict[int, CallStats]:
    """Finished calls started in ``[since, until)``, per account id.

    Each account's window is also cut into ``buckets`` equal slices for the
    chart; accounts without calls are absent from the result.
    """
    rows = (
        ProviderCall.objects.filter(
            started_at__gte=since, started_at__lt=until, outcome__in=FINISHED_OUTCOMES
        )
        .order_by()  # grouped in Python; the model's default sort is wasted work
        .values_list("account_id", "started_at", "outcome", "duration_ms")
    )
    grouped: dict[int, list[tuple[datetime, str, int | None]]] = {}
    for account_id, started_at, outcome, duration_ms in rows.iterator():
        grouped.setdefault(account_id, []).append((started_at, outcome, duration_ms))
    return {
        account_id: _stats(calls, since, until, buckets)
        for account_id, calls in grouped.items()
    }


def _stats(
    calls: list[tuple[datetime, str, int | None]],
    since: datetime,
    until: datetime,
    bucket_count: int,
) -> CallStats:
    width = (until - since) / bucket_count
    slices: list[list[tuple[str, int | None]]] = [[] for _ in range(bucket_count)]
    for started_at, outcome, duration_ms in calls:
        index = min(int((started_at - since) / width), bucket_count - 1)
        slices[index].append((outcome, duration_ms))
    buckets = [
        CallBucket(
            start=since + width * i,
            calls=len(items),
            errors=_errors(items),
            p95_ms=percentile(_durations(items), 95),
        )
        for i, items in enumerate(slices)
    ]
    items = [(outcome, duration) for _, outcome, duration in calls]
    durations = _durations(items)
    return CallStats(
        calls=len(items),
        errors=_errors(items),
        p50_ms=percentile(durations, 50),
        p95_ms=percentile(durations, 95),
        buckets=buckets,
    )


def _errors(items: list[tuple[str, int | None]]) -> int:
    return sum(1 for outcome, _ in items if outcome in ERROR_OUTCOMES)


def _durations(items: list[tuple[str, int | None]]) -> list[int]:
    return [duration for _, duration in items if duration is not None]


def account_overviews(*, now: datetime | None = None) -> list[AccountOverview]:
    """Every account with its health, breaker and last hour of calls."""
    until = now or timezone.now()
    since = until - WINDOW
    accounts = list(_accounts_with_last_failed_call())
    failed_calls = ProviderCall.objects.in_bulk(
        [a.last_failed_call_id for a in accounts if a.last_failed_call_id]
    )
    stats = call_stats_by_account(since=since, until=until)
    overviews = []
    for account in accounts:
        health = latest_health(account)
        failed_call = failed_calls.get(account.last_failed_call_id)
        overviews.append(
            AccountOverview(
                account=account,
                health=health,
                breaker=breaker_snapshot(account),
                stats=stats.get(account.pk) or _stats([], since, until, BUCKETS),
                last_error=_last_error(health, failed_call),
            )
        )
    return overviews


def _accounts_with_last_failed_call() -> QuerySet[ProviderAccount]:
    last_failed = (
        ProviderCall.objects.filter(account=OuterRef("pk"), outcome__in=ERROR_OUTCOMES)
        .order_by("-started_at", "-pk")
        .values("pk")[:1]
    )
    return (
        ProviderAccount.objects.providers()
        .select_related("health")
        .annotate(last_failed_call_id=Subquery(last_failed))
        .order_by("kind", "priority", "slug")
    )


def _last_error(
    health: HealthCheckResult | None, call: ProviderCall | None
) -> ErrorNote | None:
    notes = []
    if health is not None and health.last_error_at is not None:
        notes.append(ErrorNote("probe", health.last_error, health.last_error_at))
    if call is not None:
        text = f"{call.operation}: {call.error_code or call.outcome}"
        if call.http_status:
            text += f" (HTTP {call.http_status})"
        notes.append(ErrorNote("call", text, call.finished_at or call.started_at))
    return max(notes, key=lambda note: note.at, default=None)
