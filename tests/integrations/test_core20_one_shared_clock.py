"""The limiter's fallback (no Redis) and the breaker read one shared clock,
``cache_clock.shared_now``: no twin in ``integrations.ratelimit`` that a
change to the shared clock (or a test moving it) would miss."""

import pytest
from django.core.cache import cache

from integrations.errors import NotProcessed
from integrations.ratelimit import limiter_for
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db

START = 1_700_000_000.0


@pytest.fixture
def store_clock(settings, monkeypatch) -> list[float]:
    """A local cache whose shared clock is moved by hand, patched in the one
    place the shared time comes from."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    }
    cache.clear()
    now = [START]
    monkeypatch.setattr("integrations.cache_clock.shared_now", lambda: now[0])
    return now


def test_the_bucket_refills_by_the_shared_clock(store_clock):
    account = ProviderAccountFactory(
        settings={
            "rate_limit_per_second": 1,
            "rate_limit_burst": 1,
            "rate_limit_max_wait_seconds": 0,
        }
    )
    limiter = limiter_for(account, sleep=lambda s: None)
    assert limiter.acquire() == 0.0
    with pytest.raises(NotProcessed):
        limiter.acquire()
    store_clock[0] += 1.0  # a second later by the shared store's clock
    assert limiter.acquire() == 0.0


def test_leases_expire_by_the_shared_clock(store_clock):
    account = ProviderAccountFactory(
        settings={
            "max_concurrency": 1,
            "concurrency_max_wait_seconds": 0,
            "concurrency_slot_ttl_seconds": 30,
        }
    )
    limiter = limiter_for(account, sleep=lambda s: None)
    held = limiter.concurrency_slot()
    held.__enter__()  # a worker that died holding it (its lease never given back)
    try:
        assert limiter.in_flight() == 1
        store_clock[0] += 31.0  # its lease is over by the shared clock
        assert limiter.in_flight() == 0
        with limiter.concurrency_slot():
            assert limiter.in_flight() == 1
    finally:
        held.__exit__(None, None, None)
