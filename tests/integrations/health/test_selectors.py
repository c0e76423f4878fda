from datetime import timedelta

import pytest
from django.utils import timezone

from integrations import health, selectors
from integrations.models import HealthCheckResult, ProviderCall
from tests.factories import ProviderAccountFactory, ProviderCallFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def now():
    return timezone.now().replace(microsecond=0)


def _call(account, now, minutes_ago, outcome, duration_ms, **kwargs):
    started = now - timedelta(minutes=minutes_ago)
    return ProviderCallFactory(
        account=account,
        outcome=outcome,
        duration_ms=duration_ms,
        started_at=started,
        finished_at=started,
        **kwargs,
    )


@pytest.fixture
def busy(now):
    account = ProviderAccountFactory(slug="busy", priority=1)
    _call(account, now, 59, "success", 10)
    _call(account, now, 55, "not_processed", 100, error_code="connection_refused")
    _call(account, now, 30, "success", 20)
    _call(account, now, 30, "rejected", 40, error_code="card_declined")
    _call(
        account,
        now,
        2,
        "unknown",
        300,
        operation="capture",
        error_code="timeout",
        http_status=None,
    )
    _call(account, now, 1, "success", 30)
    # Not counted: unfinished, older than the hour, or not yet started.
    _call(account, now, 1, "in_progress", None)
    _call(account, now, 61, "not_processed", 999)
    _call(account, now, -1, "success", 5)
    return account


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 50, None),
        ([7], 95, 7),
        ([30, 10, 20], 50, 20),
        (list(range(100, 0, -1)), 95, 95),
        (list(range(1, 101)), 50, 50),
        ([10, 20, 30, 40, 100, 300], 95, 300),
    ],
)
def test_percentile_nearest_rank(values, q, expected):
    assert selectors.percentile(values, q) == expected


def test_call_stats_over_the_last_hour(busy, now):
    stats = selectors.call_stats_by_account(since=now - timedelta(hours=1), until=now)

    s = stats[busy.pk]
    assert (s.calls, s.errors) == (6, 2)
    assert s.error_rate == pytest.approx(2 / 6)
    assert (s.p50_ms, s.p95_ms) == (30, 300)


def test_five_minute_buckets(busy, now):
    since = now - timedelta(hours=1)
    s = selectors.call_stats_by_account(since=since, until=now)[busy.pk]

    assert [b.start for b in s.buckets] == [
        since + timedelta(minutes=5 * i) for i in range(12)
    ]
    figures = {i: (b.calls, b.errors, b.p95_ms) for i, b in enumerate(s.buckets)}
    assert figures == {
        0: (1, 0, 10),
        1: (1, 1, 100),
        **{i: (0, 0, None) for i in (2, 3, 4, 5, 7, 8, 9, 10)},
        6: (2, 0, 40),
        11: (2, 1, 300),
    }


def test_overviews_cover_every_account_in_failover_order(busy, now):
    quiet = ProviderAccountFactory(slug="quiet", priority=2)
    refused = ProviderAccountFactory(slug="refused", priority=3)
    _call(refused, now, 10, "rejected", 50)
    ProviderCallFactory(account=quiet, outcome="success", started_at=now)  # at `until`

    overviews = selectors.account_overviews(now=now)

    assert [o.account.slug for o in overviews] == ["busy", "quiet", "refused"]
    by_slug = {o.account.slug: o for o in overviews}
    assert by_slug["quiet"].stats.calls == 0
    assert by_slug["quiet"].stats.error_rate is None
    assert len(by_slug["quiet"].stats.buckets) == 12
    assert by_slug["quiet"].last_error is None
    assert (by_slug["refused"].stats.calls, by_slug["refused"].stats.errors) == (1, 0)
    assert by_slug["refused"].last_error is None
    assert by_slug["busy"].breaker.state == "closed"
    assert by_slug["busy"].health is None


def test_last_error_is_the_latest_failed_call(busy, now):
    [overview] = [o for o in selectors.account_overviews(now=now) if o.account == busy]

    assert overview.last_error.source == "call"
    assert overview.last_error.text == "capture: timeout"
    assert overview.last_error.at == now - timedelta(minutes=2)


def test_last_error_prefers_a_more_recent_failed_probe(busy, now):
    busy.settings = {"outage": True}
    busy.save()
    health.account_health_probe(account=busy)

    [overview] = [o for o in selectors.account_overviews(now=now) if o.account == busy]

    assert overview.health.status == "unhealthy"
    assert overview.last_error.source == "probe"
    assert overview.last_error.text == "sandbox outage (simulated)"


def test_last_error_prefers_a_more_recent_failed_call(busy, now):
    busy.settings = {"outage": True}
    busy.save()
    health.account_health_probe(account=busy)
    three_hours_ago = now - timedelta(hours=3)
    HealthCheckResult.objects.filter(account=busy).update(last_error_at=three_hours_ago)
    # The probe went through the client: its call row is as old as the probe.
    ProviderCall.objects.filter(account=busy, operation="health_check").update(
        started_at=three_hours_ago, finished_at=three_hours_ago
    )
    _call(busy, now, 0, "not_processed", 5, http_status=503, error_code="http_503")

    [overview] = [o for o in selectors.account_overviews(now=now) if o.account == busy]

    assert overview.last_error.source == "call"
    assert overview.last_error.text == "create_payment: http_503 (HTTP 503)"
