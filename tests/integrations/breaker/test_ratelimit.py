"""Token bucket and concurrency cap with a hand-moved clock; the cross-process
behaviour is in test_multiprocess.py."""

import time

import pytest
from django.core.cache import cache

from integrations.errors import NotProcessed
from integrations.models import ProviderAccount
from integrations.ratelimit import LimitConfig, limiter_for, reserve_token
from tests.factories import ProviderAccountFactory

from .conftest import START, FakeClock

pytestmark = pytest.mark.django_db


def _account(**limits) -> ProviderAccount:
    return ProviderAccountFactory(settings=limits)


def _limiter(account: ProviderAccount, clock: FakeClock):
    return limiter_for(account, clock=clock, sleep=clock.sleep)


def test_no_limit_is_a_free_no_op(clock):
    limiter = _limiter(_account(), clock)
    assert limiter.acquire() == 0.0
    with limiter.concurrency_slot(), limiter.concurrency_slot():
        pass
    assert clock.slept == []
    assert cache.get(limiter.bucket_key) is None


def test_burst_then_waits_for_the_next_token(shared_clock):
    clock = shared_clock
    limiter = _limiter(_account(rate_limit_per_second=10, rate_limit_burst=2), clock)
    assert limiter.acquire() == 0.0
    assert limiter.acquire() == 0.0
    assert limiter.acquire() == pytest.approx(0.1)
    assert limiter.acquire() == pytest.approx(0.1)
    assert clock.slept == [pytest.approx(0.1), pytest.approx(0.1)]


def test_waiters_queue_up_to_the_bound_then_fail_fast(shared_clock):
    clock = shared_clock
    account = _account(
        rate_limit_per_second=2, rate_limit_burst=1, rate_limit_max_wait_seconds=1
    )
    first = limiter_for(account, clock=clock, sleep=lambda s: None)  # no sleeping
    assert first.acquire() == 0.0
    assert first.acquire() == pytest.approx(0.5)  # reserved the next token
    assert first.acquire() == pytest.approx(1.0)  # and the one after
    with pytest.raises(NotProcessed) as info:
        first.acquire()
    assert info.value.code == "rate_limited"
    assert info.value.outcome == "not_processed"
    assert info.value.retry_after == pytest.approx(1.5)
    # The refusal took nothing: 1.5 s later a token is there for the taking.
    clock.advance(1.5)
    assert first.acquire() == 0.0
    assert first.acquire() == pytest.approx(0.5)


def test_zero_wait_means_fail_fast(clock):
    account = _account(
        rate_limit_per_second=1, rate_limit_burst=1, rate_limit_max_wait_seconds=0
    )
    limiter = _limiter(account, clock)
    limiter.acquire()
    with pytest.raises(NotProcessed):
        limiter.acquire()
    assert clock.slept == []


def test_idle_time_refills_only_up_to_the_burst(shared_clock):
    clock = shared_clock
    limiter = _limiter(_account(rate_limit_per_second=5, rate_limit_burst=3), clock)
    clock.advance(3600)
    waits = [limiter.acquire() for _ in range(4)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] == pytest.approx(0.2)


def test_sustained_rate_matches_the_limit(shared_clock):
    clock = shared_clock
    limiter = _limiter(_account(rate_limit_per_second=20, rate_limit_burst=5), clock)
    for _ in range(205):
        limiter.acquire()
    # 5 from the burst, then one every 50 ms.
    assert clock.now - START == pytest.approx(10.0)


def test_limiters_of_one_account_share_the_bucket(clock):
    account = _account(
        rate_limit_per_second=1, rate_limit_burst=1, rate_limit_max_wait_seconds=0
    )
    _limiter(account, clock).acquire()
    elsewhere = _limiter(ProviderAccount.objects.get(pk=account.pk), clock)
    with pytest.raises(NotProcessed):
        elsewhere.acquire()
    other_account = _limiter(_account(rate_limit_per_second=1), clock)
    assert other_account.acquire() == 0.0


def test_reserve_token_never_refills_backwards():
    state = {"tokens": 0.0, "ts": 100.0}
    # A machine whose clock is behind must not add (negative) tokens.
    reservation, new = reserve_token(state, now=99.0, rate=1, burst=5, max_wait=2)
    assert reservation.granted
    assert reservation.wait == pytest.approx(1.0)
    assert new == {"tokens": -1.0, "ts": 100.0}


def test_invalid_settings_are_ignored(account, settings):
    account.settings = {
        "rate_limit_per_second": "fast",
        "max_concurrency": -2,
        "rate_limit_max_wait_seconds": "nan",
    }
    config = LimitConfig.for_account(account)
    assert config.rate is None
    assert config.max_concurrency is None
    assert config.max_wait == settings.RATE_LIMIT_MAX_WAIT_SECONDS
    account.settings = {"rate_limit_per_second": "2.5"}
    config = LimitConfig.for_account(account)
    assert (config.rate, config.burst) == (2.5, 2.5)


def test_concurrency_cap_waits_then_fails(clock):
    account = _account(max_concurrency=2, concurrency_max_wait_seconds=0.5)
    limiter = _limiter(account, clock)
    with limiter.concurrency_slot(), limiter.concurrency_slot():
        assert limiter.in_flight() == 2
        with pytest.raises(NotProcessed) as info, limiter.concurrency_slot():
            pass
        assert info.value.code == "concurrency_limited"
        assert sum(clock.slept) == pytest.approx(0.5)
    assert limiter.in_flight() == 0
    with limiter.concurrency_slot():
        assert limiter.in_flight() == 1


def test_slot_is_released_when_the_call_raises(clock):
    limiter = _limiter(_account(max_concurrency=1), clock)
    with pytest.raises(RuntimeError), limiter.concurrency_slot():
        raise RuntimeError("provider code blew up")
    with limiter.concurrency_slot():
        pass


def test_a_slot_leaked_by_a_dead_worker_expires(clock):
    account = _account(
        max_concurrency=1,
        concurrency_max_wait_seconds=0,
        concurrency_slot_ttl_seconds=0.3,
    )
    limiter = _limiter(account, clock)
    leaked = limiter.concurrency_slot()
    leaked.__enter__()  # never exited: the worker died
    with pytest.raises(NotProcessed), limiter.concurrency_slot():
        pass
    # The lease runs on the shared store's clock, not this worker's.
    clock.advance(30)
    with pytest.raises(NotProcessed), limiter.concurrency_slot():
        pass
    time.sleep(0.5)
    with limiter.concurrency_slot():
        assert limiter.in_flight() == 1
