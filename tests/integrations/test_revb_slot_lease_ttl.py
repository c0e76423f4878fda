"""A concurrency slot's key on Redis outlives every lease it holds: a take
under a shorter lease TTL (the account's concurrency_slot_ttl_seconds
lowered while calls are in flight) must not cut the key's expiry under the
leases already held, or those vanish and the cap is exceeded."""

import time
from dataclasses import replace

import pytest

from integrations.ratelimit import limiter_for
from tests.factories import ProviderAccountFactory

pytestmark = [pytest.mark.django_db, pytest.mark.redis]


def test_a_shorter_lease_keeps_the_longer_ones_held(settings):
    if not settings.REDIS_URL:
        pytest.skip("needs service: Redis not configured (set REDIS_URL)")
    account = ProviderAccountFactory(
        settings={
            "max_concurrency": 2,
            "concurrency_max_wait_seconds": 0,
            "concurrency_slot_ttl_seconds": 60,
        }
    )
    long_held = limiter_for(account)
    lowered = limiter_for(account)
    lowered.config = replace(lowered.config, slot_ttl=0.2)

    with long_held.concurrency_slot():
        with lowered.concurrency_slot():
            pass
        time.sleep(0.4)

        # The 60-second lease is still held: one slot of two is free.
        assert long_held.in_flight() == 1
