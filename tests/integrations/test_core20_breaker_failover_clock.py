"""The breaker carries Redis's time forward from a read (no round trip of its
own), but not across a Redis failover: a reconnected line may be talking to a
server whose clock differs, so the time is learnt again from it. Otherwise a
worker that learnt the old server's time decides by it for up to a minute
while every other worker (and every script) goes by the new server's."""

import time

import pytest
from django.core.cache import cache

from integrations.breaker import BreakerState, CircuitBreaker
from integrations.breaker.store import forget_recent
from integrations.errors import NotProcessed
from tests.factories import ProviderAccountFactory
from tests.integrations.breaker.conftest import BREAKER_SETTINGS
from tests.integrations.redis_clock_proxy import redis_clock_proxy

pytestmark = [pytest.mark.redis, pytest.mark.django_db]

REFUSED = NotProcessed("connection refused", code="connection_refused")
# The replica promoted in the failover: its clock ten minutes behind.
BEHIND = -600


@pytest.fixture
def proxy(settings):
    """Redis behind a proxy whose TIME is the 'server's' clock."""
    with redis_clock_proxy(settings.REDIS_URL) as proxy:
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": proxy.url,
            }
        }
        cache.clear()
        forget_recent()
        yield proxy
        cache.clear()


def _trip(breaker: CircuitBreaker) -> None:
    for _ in range(3):
        breaker.record_failure(REFUSED)


def test_proxy_shifts_the_servers_clock(proxy):
    # The set-up itself: the breaker reads the proxied server's time.
    account = ProviderAccountFactory(settings=dict(BREAKER_SETTINGS))
    proxy.failover(BEHIND)
    assert CircuitBreaker(account).store.now() == pytest.approx(
        time.time() + BEHIND, abs=5
    )


def test_a_worker_relearns_the_time_after_a_failover(proxy):
    account = ProviderAccountFactory(settings=dict(BREAKER_SETTINGS))
    old = CircuitBreaker(account)  # a worker that read before the failover
    assert old.snapshot().state == BreakerState.CLOSED
    proxy.failover(BEHIND)
    # A worker started since trips the breaker, by the new server's clock.
    _trip(CircuitBreaker(account))
    with pytest.raises(NotProcessed) as info:
        old.before_call()
    assert info.value.code == "breaker_open"
    assert 28 < info.value.retry_after <= 30
    assert old.snapshot().state == BreakerState.OPEN


def test_a_breaker_tripped_across_a_failover_is_stamped_by_the_new_clock(proxy):
    account = ProviderAccountFactory(settings=dict(BREAKER_SETTINGS))
    old = CircuitBreaker(account)
    assert old.snapshot().state == BreakerState.CLOSED
    proxy.failover(BEHIND)
    _trip(old)  # its first command after the failover reconnects its line
    with pytest.raises(NotProcessed) as info:
        CircuitBreaker(account).before_call()  # a worker started since
    assert 28 < info.value.retry_after <= 30
