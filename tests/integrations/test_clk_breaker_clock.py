"""The circuit breaker between workers whose clocks disagree: whether it is
open, when a probe may go and which window a call counts in are decided by
the shared store's clock (Redis's TIME, read with the state; the database's
on the database-cache fallback), so a worker whose clock runs ahead neither
lets calls through to an open provider early nor counts into another window,
and one behind does not keep the breaker open too long.

However the machine's load spaces the steps, the bounds hold: a wait is
checked against the time the test spent around it (``stopwatch``), and the
Redis time is learnt afresh as each test starts, so it is not learnt again
(stepped by another reply's lag) half-way through one; the gate, which learns
it from each of its replies, counts the first reply's lag as time spent."""

import contextlib
import time
from collections.abc import Iterator
from unittest import mock

import pytest
from django.core.cache import cache

from integrations import cache_clock
from integrations.breaker import BreakerState, CircuitBreaker, breaker_for
from integrations.breaker.store import forget_recent
from integrations.errors import NotProcessed
from integrations.ratelimit import limiter_for
from integrations.redis_line import redis_handle
from integrations.testing.clocks import whole_machine_clock
from tests.factories import ProviderAccountFactory
from tests.integrations.breaker.conftest import BREAKER_SETTINGS
from tests.integrations.skewed_clocks import AHEAD, STORES, stopwatch, use_store

pytestmark = pytest.mark.django_db

REFUSED = NotProcessed("connection refused", code="connection_refused")


@pytest.fixture(params=STORES)
def store(request, settings) -> str:
    """The breaker's shared store: Redis, or the database cache (with the
    database's clock)."""
    use_store(request, settings, "integrations.cache_clock.DatabaseClockCache")
    cache.clear()
    forget_recent()
    _learn_redis_time()
    return request.param


def _learn_redis_time() -> None:
    # Good for a minute: no test here learns it again mid-way (a new
    # reply's lag would move the shared clock by a few loaded milliseconds).
    handle = redis_handle()
    if handle is not None:
        cache_clock.learn_redis_time(handle.line.command("TIME"))


def _account(**limits):
    return ProviderAccountFactory(settings={**BREAKER_SETTINGS, **limits})


_MACHINE_TIME = time.time


@contextlib.contextmanager
def _worker(account, skew: float = 0.0) -> Iterator[CircuitBreaker]:
    """The breaker in a worker on a machine whose clock is ``skew`` seconds
    off (``time.time`` and ``timezone.now`` alike)."""
    with whole_machine_clock(skew), mock.patch.object(time, "time", _off(skew)):
        # Its own object: breaker_for shares one breaker for time.time.
        yield breaker_for(account, clock=_off(skew))


def _off(skew: float):
    return lambda: _MACHINE_TIME() + skew


def _trip(breaker: CircuitBreaker) -> None:
    for _ in range(3):
        breaker.record_failure(REFUSED)


def _refusal(breaker: CircuitBreaker) -> NotProcessed:
    with pytest.raises(NotProcessed) as info:
        breaker.before_call()
    assert info.value.code == "breaker_open"
    return info.value


def test_a_worker_ahead_does_not_let_calls_through_early(store):
    account = _account()
    spent = stopwatch()
    with _worker(account) as on_time:
        _trip(on_time)
    with _worker(account, AHEAD) as ahead:
        assert ahead.snapshot().state == BreakerState.OPEN
        assert ahead.is_open()
        refused = _refusal(ahead)
    # The 30 s open time less what passed since the trip, by the shared clock.
    assert 30 - spent() <= refused.retry_after <= 30


def test_a_worker_behind_does_not_hold_the_breaker_open(store):
    account = _account(breaker_open_seconds=1)
    with _worker(account) as on_time:
        _trip(on_time)
    time.sleep(1.1)  # the open time is over, by the shared clock
    with _worker(account, -AHEAD) as behind:
        assert behind.snapshot().state == BreakerState.HALF_OPEN
        behind.before_call()  # the probe
        behind.record_success()
        assert behind.snapshot().state == BreakerState.CLOSED


def test_a_breaker_opened_by_a_worker_ahead_reopens_on_time(store):
    account = _account(breaker_open_seconds=1)
    before = cache_clock.shared_now()  # read here, on no skewed machine
    with _worker(account, AHEAD) as ahead:
        _trip(ahead)
        until = ahead.snapshot().opened_until.timestamp()
    after = cache_clock.shared_now()
    # One open time on from the trip by the shared clock, not the worker's.
    assert before + 1 <= until <= after + 1
    time.sleep(1.1)
    with _worker(account) as on_time:
        on_time.before_call()


def test_a_worker_ahead_does_not_replace_a_probe_in_flight(store):
    account = _account(breaker_open_seconds=1)
    spent = stopwatch()
    with _worker(account) as on_time:
        _trip(on_time)
    time.sleep(1.1)
    with _worker(account) as on_time:
        on_time.before_call()  # the probe, not reported back yet
    with _worker(account, 60) as ahead:  # six probe timeouts later, by its clock
        refused = _refusal(ahead)
    # The first 10 s probe slot, less what passed since the open time ended.
    assert 10 - (spent() - 1) <= refused.retry_after <= 10


@pytest.mark.parametrize("skew", [AHEAD, -AHEAD])
def test_a_skewed_worker_counts_in_the_same_window(store, skew):
    account = _account(breaker_consecutive_failures=100)
    with _worker(account) as on_time:
        on_time.record_success()
        on_time.record_success()
        on_time.record_failure(REFUSED)
    with _worker(account, skew) as skewed:
        skewed.record_failure(REFUSED)
        snap = skewed.snapshot()
    assert snap.state == BreakerState.OPEN
    assert snap.last_reason.startswith("2 of 4 calls failed")


@pytest.mark.redis
def test_the_gate_decides_by_redis_clock(settings):
    # The client's hot path: bucket and breaker reads in one script.
    if not settings.REDIS_URL:
        pytest.skip("needs service: Redis not configured (set REDIS_URL)")
    cache.clear()
    forget_recent()
    # Started before Redis's time is learnt: the gate learns it again from
    # its own reply, and the first reply's lag is then time spent too.
    spent = stopwatch()
    _learn_redis_time()
    account = _account(rate_limit_per_second=100, rate_limit_burst=100)
    with _worker(account) as on_time:
        _trip(on_time)
    with _worker(account, AHEAD) as ahead, pytest.raises(NotProcessed) as info:
        ahead.before_call_reserving(limiter_for(account))
    assert info.value.code == "breaker_open"
    assert 30 - spent() <= info.value.retry_after <= 30
