"""Concurrency slots (the shared client's in-flight cap) between workers whose
clocks disagree: a lease is stamped and expired by the shared store's clock
(Redis's TIME; the database's for the database-cache fallback), so a worker
whose clock runs ahead neither holds its slot past the lease nor expires the
slots other workers hold."""

import time
from dataclasses import replace

import pytest
from django.core.cache import cache

from integrations.errors import NotProcessed
from integrations.ratelimit import RateLimiter
from tests.factories import ProviderAccountFactory
from tests.integrations.skewed_clocks import (
    AHEAD,
    limiter_store,  # noqa: F401 (the ``store`` fixture)
    skewed_limiter,
)

pytestmark = pytest.mark.django_db


def _account(**limits):
    return ProviderAccountFactory(
        settings={"max_concurrency": 1, "concurrency_max_wait_seconds": 0, **limits}
    )


def _refused(limiter: RateLimiter) -> bool:
    try:
        with limiter.concurrency_slot():
            return False
    except NotProcessed as exc:
        assert exc.code == "concurrency_limited"
        return True


def test_a_worker_ahead_does_not_expire_a_slot_another_holds(store):
    account = _account(concurrency_slot_ttl_seconds=30)
    with skewed_limiter(account) as on_time:
        cache.delete(on_time.slots_key)
        with on_time.concurrency_slot():
            with skewed_limiter(account, AHEAD) as ahead:
                assert ahead.in_flight() == 1
                assert _refused(ahead)
            with skewed_limiter(account, 60) as slightly_ahead:
                assert _refused(slightly_ahead)


def test_a_slot_leaked_by_a_worker_ahead_frees_after_the_lease(store):
    account = _account(max_concurrency=2, concurrency_slot_ttl_seconds=0.5)
    with skewed_limiter(account, AHEAD) as ahead:
        cache.delete(ahead.slots_key)
        leaked = ahead.concurrency_slot()
        leaked.__enter__()  # never exited: the worker died
    with skewed_limiter(account) as on_time:
        # A long call on another worker keeps the account's slots in use.
        long_call = RateLimiter(
            account, config=replace(on_time.config, slot_ttl=30), clock=on_time.clock
        )
        with long_call.concurrency_slot():
            assert on_time.in_flight() == 2
            assert _refused(on_time)
            time.sleep(0.7)  # the leaked lease runs out on the shared clock
            assert on_time.in_flight() == 1
            with on_time.concurrency_slot():
                assert on_time.in_flight() == 2
    del leaked


def test_a_slot_taken_by_a_worker_behind_is_held_for_the_lease(store):
    account = _account(concurrency_slot_ttl_seconds=30)
    with skewed_limiter(account, -AHEAD) as behind:
        cache.delete(behind.slots_key)
        with behind.concurrency_slot(), skewed_limiter(account) as on_time:
            assert on_time.in_flight() == 1
            assert _refused(on_time)
    with skewed_limiter(account) as on_time, on_time.concurrency_slot():
        assert on_time.in_flight() == 1
