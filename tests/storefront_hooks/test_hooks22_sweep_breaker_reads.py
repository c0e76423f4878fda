"""The sweep reads every enabled endpoint's breaker mode (whether staff
forced it open) in one round trip, not one per endpoint: on Redis one
pipeline, on the database cache one query. It still reads the mode as the
breaker does (the published mode, else the account row's), and by the row
alone while Redis is down, with one warning."""

from datetime import timedelta

import pytest
from django.core.cache import caches
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from redis.connection import AbstractConnection

from integrations.breaker import breaker_mode_set
from integrations.breaker.store import forget_recent
from integrations.models import DeliveryStatus, ProviderAccount
from integrations.models.accounts import BreakerMode
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery, WebhookEndpoint
from tests.storefront_hooks.cap_setup import made_row_id, swept

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    return swept(monkeypatch)


@pytest.fixture
def round_trips(monkeypatch) -> list[int]:
    """Each command (or pipeline) written to a Redis connection."""
    sent: list[int] = []
    real = AbstractConnection.send_packed_command

    def counted(self, command, check_health=True):
        sent.append(1)
        return real(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    return sent


def _due_row(endpoint) -> int:
    return made_row_id(
        endpoint,
        status=DeliveryStatus.FAILED,
        attempts=1,
        next_attempt_at=timezone.now() - timedelta(seconds=5),
    )


def _endpoints(make_endpoint, count: int) -> list[WebhookEndpoint]:
    made = [make_endpoint()[0] for _ in range(count)]
    for endpoint in made:
        _due_row(endpoint)
    return made


def _swept_round_trips(round_trips: list[int]) -> int:
    services.deliveries_sweep()  # connections made (their handshakes)
    forget_recent()  # no read this process remembers
    round_trips.clear()
    services.deliveries_sweep()
    return len(round_trips)


@pytest.mark.redis
def test_the_sweep_reads_the_breakers_in_one_round_trip(
    make_endpoint, queued, round_trips
):
    _endpoints(make_endpoint, 1)
    one = _swept_round_trips(round_trips)
    _endpoints(make_endpoint, 7)
    eight = _swept_round_trips(round_trips)

    # Before: a round trip per endpoint (1, then 8).
    assert eight == one <= 1, (one, eight)
    assert len(queued) == 2 * (1 + 8)  # twice each (no claim here)


@pytest.mark.redis
def test_the_published_mode_still_decides_over_the_row(
    make_endpoint, queued, round_trips
):
    live, forced, released = _endpoints(make_endpoint, 3)
    breaker_mode_set(account=forced.account, mode=BreakerMode.FORCED_OPEN)
    # Its row changed by hand, not published: the breaker still refuses.
    ProviderAccount.objects.filter(pk=forced.account_id).update(breaker_mode="auto")
    breaker_mode_set(account=released.account, mode=BreakerMode.FORCED_OPEN)
    breaker_mode_set(account=released.account, mode=BreakerMode.AUTO)

    services.deliveries_sweep()

    sent = set(
        WebhookDelivery.objects.filter(pk__in=queued).values_list(
            "endpoint_id", flat=True
        )
    )
    assert sent == {live.pk, released.pk}
    forced.refresh_from_db()
    assert forced.paused_since is not None


def test_an_unpublished_forced_open_row_pauses_its_endpoint(make_endpoint, queued):
    live, forced = _endpoints(make_endpoint, 2)
    # Forced open on the row, nothing published (a cache emptied since).
    ProviderAccount.objects.filter(pk=forced.account_id).update(
        breaker_mode=BreakerMode.FORCED_OPEN
    )

    services.deliveries_sweep()

    sent = set(
        WebhookDelivery.objects.filter(pk__in=queued).values_list(
            "endpoint_id", flat=True
        )
    )
    assert sent == {live.pk}


def test_redis_down_costs_one_failed_read_and_one_warning(
    settings, make_endpoint, queued, caplog
):
    endpoints = _endpoints(make_endpoint, 4)
    ProviderAccount.objects.filter(pk=endpoints[0].account_id).update(
        breaker_mode=BreakerMode.FORCED_OPEN
    )
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        }
    }
    forget_recent()

    with caplog.at_level("INFO"):
        services.deliveries_sweep()

    unreadable = [
        m for m in caplog.messages if m == "webhook endpoint breaker unreadable"
    ]
    assert len(unreadable) == 1, caplog.messages  # before: one per endpoint
    # The one warning is the outage record's (noise24: the read's is INFO).
    warned = [r.name for r in caplog.records if r.levelname == "WARNING"]
    assert warned == ["integrations.redis_line"], caplog.messages
    assert len(queued) == 3  # the row's forced open still pauses its endpoint


def test_the_database_cache_is_read_in_one_query(settings, make_endpoint, queued):
    settings.CACHES = {
        "default": {
            "BACKEND": "integrations.cache_clock.DatabaseClockCache",
            "LOCATION": "switchyard_cache",
        }
    }
    call_command("createcachetable", verbosity=0)
    caches["default"].clear()

    def reads() -> int:
        forget_recent()
        with CaptureQueriesContext(connection) as captured:
            services.deliveries_sweep()
        return sum("switchyard_cache" in q["sql"] for q in captured.captured_queries)

    _endpoints(make_endpoint, 1)
    one = reads()
    _endpoints(make_endpoint, 5)
    six = reads()

    # Before: two queries per endpoint (2, then 12).
    assert six == one <= 1, (one, six)
