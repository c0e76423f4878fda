"""What the review of the learnt Redis time checked and found sound, kept as
tests: the time is carried by the monotonic clock (not frozen at the
reply), a forked worker inherits a learnt time that is still right (one
machine, one monotonic clock) and asks no TIME for it, and the connect
callback sits on the line's own connection only, once, whatever the
reconnects (the cache's pooled connections untouched)."""

import os
import time

import pytest
from django.core.cache import cache

from integrations import cache_clock
from integrations.breaker.store import forget_recent
from integrations.redis_line import redis_handle
from tests.integrations.redis_clock_proxy import redis_clock_proxy

pytestmark = [pytest.mark.redis, pytest.mark.django_db]

AHEAD = 120


@pytest.fixture
def proxy(settings):
    with redis_clock_proxy(settings.REDIS_URL, offset=AHEAD) as proxy:
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": proxy.url,
            }
        }
        cache.clear()
        forget_recent()
        redis_handle().line.command("PING")  # a line of this server's
        yield proxy
        cache.clear()


def test_the_learnt_time_runs_on(proxy):
    began = time.monotonic()
    first = cache_clock.shared_now()
    asked = proxy.times
    time.sleep(0.2)
    second = cache_clock.shared_now()
    spent = time.monotonic() - began
    assert proxy.times == asked  # carried, not asked again
    # It ran on with this host's clock: no less than the sleep, no more than
    # the time spent around it (however loaded the machine).
    assert 0.19 < second - first <= spent + 0.001
    assert second == pytest.approx(time.time() + AHEAD, abs=1)


def test_a_forked_worker_carries_the_parents_time_right(proxy):
    cache_clock.shared_now()
    asked = proxy.times
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            now = cache_clock.shared_now()
            status = 0 if abs(now - (time.time() + AHEAD)) < 1 else 2
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert proxy.times == asked


def test_one_callback_on_the_line_and_none_on_the_pool(proxy):
    line = redis_handle().line
    for offset in (AHEAD, -AHEAD, AHEAD):
        proxy.failover(offset)
        line.command("PING")  # reconnects
    assert len(line.connection._connect_callbacks) == 1
    cache.set("revcore20", 1)
    pool = redis_handle().client.connection_pool
    pooled = [*pool._available_connections, *pool._in_use_connections]
    assert pooled
    assert all(not conn._connect_callbacks for conn in pooled)
