"""Concurrency slots (the shared client's in-flight cap) between workers whose
clocks disagree: a lease is stamped and expired by the shared store's clock
(Redis's TIME; the database's for the database-cache fallback), so a worker
whose clock runs ahead neither holds its slot past the lease nor expires the
slots other workers hold."""

import contextlib
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from django.core.cache import cache
from django.core.management import call_command

from integrations.errors import NotProcessed
from integrations.ratelimit import RateLimiter, limiter_for
from integrations.testing.clocks import whole_machine_clock
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db

AHEAD = 3600.0  # a machine whose clock is an hour fast


# The database cache's skew needs a server database: SQLite's one clock is
# this machine's, so a skewed worker there skews the database too.
@pytest.fixture(params=["redis", pytest.param("database", marks=pytest.mark.postgres)])
def store(request, settings) -> str:
    """The limiter's shared store: Redis at REDIS_URL, or the database cache
    (the fallback when there is no Redis)."""
    if request.param == "redis":
        request.applymarker(pytest.mark.redis)
        if not settings.REDIS_URL:
            pytest.skip("needs service: Redis not configured (set REDIS_URL)")
    else:
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.db.DatabaseCache",
                "LOCATION": "switchyard_cache",
            }
        }
        call_command("createcachetable", verbosity=0)
    return request.param


def _account(**limits):
    return ProviderAccountFactory(
        settings={"max_concurrency": 1, "concurrency_max_wait_seconds": 0, **limits}
    )


@contextlib.contextmanager
def _worker(account, skew: float = 0.0) -> Iterator[RateLimiter]:
    """A limiter in a worker on a machine whose clock is ``skew`` seconds off."""
    with whole_machine_clock(skew):
        yield limiter_for(account, clock=lambda: time.time() + skew)


def _refused(limiter: RateLimiter) -> bool:
    try:
        with limiter.concurrency_slot():
            return False
    except NotProcessed as exc:
        assert exc.code == "concurrency_limited"
        return True


def test_a_worker_ahead_does_not_expire_a_slot_another_holds(store):
    account = _account(concurrency_slot_ttl_seconds=30)
    with _worker(account) as on_time:
        cache.delete(on_time.slots_key)
        with on_time.concurrency_slot():
            with _worker(account, AHEAD) as ahead:
                assert ahead.in_flight() == 1
                assert _refused(ahead)
            with _worker(account, 60) as slightly_ahead:
                assert _refused(slightly_ahead)


def test_a_slot_leaked_by_a_worker_ahead_frees_after_the_lease(store):
    account = _account(max_concurrency=2, concurrency_slot_ttl_seconds=0.5)
    with _worker(account, AHEAD) as ahead:
        cache.delete(ahead.slots_key)
        leaked = ahead.concurrency_slot()
        leaked.__enter__()  # never exited: the worker died
    with _worker(account) as on_time:
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
    with _worker(account, -AHEAD) as behind:
        cache.delete(behind.slots_key)
        with behind.concurrency_slot(), _worker(account) as on_time:
            assert on_time.in_flight() == 1
            assert _refused(on_time)
    with _worker(account) as on_time, on_time.concurrency_slot():
        assert on_time.in_flight() == 1
