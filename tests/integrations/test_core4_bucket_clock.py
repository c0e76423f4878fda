"""The token bucket between workers whose clocks disagree: it refills by the
shared store's clock (Redis's TIME inside the script; the database's on the
database-cache fallback), so a worker whose clock runs ahead cannot refill it
early (and exceed the provider's rate), nor one behind starve.

A refusal's wait is checked against the time the test spent since the
bucket was drained (``stopwatch``), not a fixed margin: a loaded machine may
deschedule the test between two calls for longer than a tenth of a second."""

import time

import pytest
from django.core.cache import cache

from integrations.breaker.store import BreakerStore
from integrations.errors import NotProcessed
from integrations.ratelimit import RateLimiter
from tests.factories import ProviderAccountFactory
from tests.integrations.skewed_clocks import (
    AHEAD,
    limiter_store,  # noqa: F401 (the ``store`` fixture)
    skewed_limiter,
    stopwatch,
)

pytestmark = pytest.mark.django_db


def _account(**limits):
    return ProviderAccountFactory(
        settings={
            # A token each 10 s: the refusals below hold however long a
            # loaded machine holds the test back between two calls.
            "rate_limit_per_second": 0.1,
            "rate_limit_burst": 2,
            "rate_limit_max_wait_seconds": 0,
            **limits,
        }
    )


def _refusal(limiter: RateLimiter) -> NotProcessed:
    with pytest.raises(NotProcessed) as info:
        limiter.acquire()
    assert info.value.code == "rate_limited"
    return info.value


def test_a_worker_ahead_does_not_refill_the_bucket(store):
    account = _account()
    with skewed_limiter(account) as on_time:
        cache.delete(on_time.bucket_key)
        spent = stopwatch()
        assert [on_time.acquire(), on_time.acquire()] == [0.0, 0.0]
        refused = _refusal(on_time)
        assert 10 - spent() <= refused.retry_after <= 10
    with skewed_limiter(account, AHEAD) as ahead:
        refused = _refusal(ahead)
    # The tokens come back on the shared clock: 10 s after the first was
    # taken.
    assert 10 - spent() <= refused.retry_after <= 10


def test_a_worker_behind_is_not_starved(store):
    # A token a second: the refusal must come before the next token does,
    # and a loaded machine may hold the test back for a tenth of a second.
    account = _account(rate_limit_per_second=1, rate_limit_burst=1)
    with skewed_limiter(account) as on_time:
        cache.delete(on_time.bucket_key)
        on_time.acquire()
    with skewed_limiter(account, -AHEAD) as behind:
        assert _refusal(behind).retry_after <= 1.0
        time.sleep(1.05)  # a token is back, by the shared clock
        assert behind.acquire() == 0.0


def test_a_bucket_drained_behind_refuses_a_worker_on_time(store):
    account = _account()
    with skewed_limiter(account, -AHEAD) as behind:
        cache.delete(behind.bucket_key)
        spent = stopwatch()
        assert [behind.acquire(), behind.acquire()] == [0.0, 0.0]
    with skewed_limiter(account) as on_time:
        refused = _refusal(on_time)
    assert 10 - spent() <= refused.retry_after <= 10


@pytest.mark.redis
def test_the_gate_reserves_by_redis_clock_too(settings):
    # The breaker's gate (one script: bucket plus breaker reads) is Redis only.
    if not settings.REDIS_URL:
        pytest.skip("needs service: Redis not configured (set REDIS_URL)")
    account = _account()
    breaker = BreakerStore(account.pk, window_seconds=60, buckets=6)
    with skewed_limiter(account) as on_time:
        cache.delete(on_time.bucket_key)
        spent = stopwatch()
        granted = [breaker.gate(on_time, 1)[0].granted for _ in range(3)]
        assert granted == [True, True, False]
    with skewed_limiter(account, AHEAD) as ahead:
        reservation = breaker.gate(ahead, 1)[0]
    assert not reservation.granted
    assert 10 - spent() <= reservation.wait <= 10
