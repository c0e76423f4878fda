"""Weighted tokens and pacing with a hand-moved clock: bulk work waits for
the rate limit (up to a budget) where transactional calls fail fast."""

import pytest

from integrations.errors import NotProcessed, Outcome, Paced
from integrations.models import ProviderAccount
from integrations.ratelimit import limiter_for, reserve_token
from tests.factories import ProviderAccountFactory

from .conftest import START, FakeClock

pytestmark = pytest.mark.django_db


def _limiter(clock: FakeClock, **limits):
    account: ProviderAccount = ProviderAccountFactory(settings=limits)
    return limiter_for(account, clock=clock, sleep=clock.sleep)


def test_a_weighted_call_takes_that_many_tokens(shared_clock):
    clock = shared_clock
    limiter = _limiter(clock, rate_limit_per_second=10, rate_limit_burst=10)
    assert limiter.acquire(weight=10) == 0.0
    # The bucket is empty: the next single token is 0.1 s away.
    assert limiter.acquire() == pytest.approx(0.1)


def test_a_weight_larger_than_the_burst_waits_for_the_deficit(clock):
    limiter = _limiter(
        clock,
        rate_limit_per_second=10,
        rate_limit_burst=5,
        rate_limit_max_wait_seconds=0,
    )
    # 1,000 messages would never fit a bucket of 5: served after the deficit.
    assert limiter.acquire(weight=20) == pytest.approx(1.5)
    assert clock.slept == [pytest.approx(1.5)]
    # And a transactional call right behind it still fails fast.
    with pytest.raises(NotProcessed) as info:
        limiter.acquire()
    assert info.value.code == "rate_limited"


def test_reserve_token_in_debt_by_the_weight():
    reservation, state = reserve_token(
        None, now=START, rate=2, burst=4, max_wait=5, weight=10
    )
    assert reservation.granted
    assert reservation.wait == pytest.approx(3.0)
    assert state == {"tokens": -6.0, "ts": START}


def test_pacing_waits_where_a_transactional_call_fails(shared_clock):
    clock = shared_clock
    limiter = _limiter(
        clock,
        rate_limit_per_second=2,
        rate_limit_burst=1,
        rate_limit_max_wait_seconds=0,
    )
    limiter.acquire()
    with pytest.raises(NotProcessed):
        limiter.acquire()

    waits = [limiter.pace(budget=10) for _ in range(4)]

    assert waits == [pytest.approx(0.5)] * 4
    assert clock.now - START == pytest.approx(2.0)


def test_paced_weights_keep_the_rate(shared_clock):
    clock = shared_clock
    limiter = _limiter(clock, rate_limit_per_second=100, rate_limit_burst=100)
    for _ in range(10):
        limiter.pace(weight=50, budget=60)
    # 500 tokens beyond the first burst of 100, at 100 a second.
    assert clock.now - START == pytest.approx(4.0)


def test_pacing_past_the_budget_raises_paced_and_takes_nothing(shared_clock):
    clock = shared_clock
    limiter = _limiter(
        clock,
        rate_limit_per_second=1,
        rate_limit_burst=1,
        rate_limit_max_wait_seconds=0,
    )
    limiter.acquire()

    with pytest.raises(Paced) as info:
        limiter.pace(weight=3, budget=2)

    assert info.value.code == "paced"
    assert info.value.outcome == Outcome.NOT_PROCESSED
    assert info.value.retry_after == pytest.approx(3.0)
    assert clock.slept == []
    # The refusal took no tokens: one second later one is there.
    clock.advance(1)
    assert limiter.acquire() == 0.0


def test_pacing_without_a_rate_limit_is_free(clock):
    limiter = _limiter(clock)
    assert limiter.pace(weight=1000, budget=0) == 0.0


def test_a_weight_must_be_positive(clock):
    limiter = _limiter(clock, rate_limit_per_second=1)
    with pytest.raises(ValueError):
        limiter.acquire(weight=0)


def test_a_paced_slot_wait_raises_paced(clock):
    limiter = _limiter(clock, max_concurrency=1, concurrency_max_wait_seconds=0)
    with limiter.concurrency_slot():
        with pytest.raises(Paced), limiter.concurrency_slot(max_wait=0.5, paced=True):
            pass
        assert sum(clock.slept) == pytest.approx(0.5)
