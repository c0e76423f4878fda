"""The response cache (rate quotes) on Redis while it cannot be reached: one
Redis outage record per process (``redis_line.outage``). A quote in an
outage another caller noted does not ask Redis (each ask costs a dropped
network its timeouts, twice per quote: read and write) and logs nothing of
its own; an outage it meets is noted there, one warning for all."""

import logging
from collections.abc import Iterator

import pytest

from integrations import redis_line
from integrations.redis_line import RedisPaused, outage
from integrations.response_cache import fingerprint, get_or_compute
from tests.integrations.test_revcore20_webhook_clock_outage import ClosingPort


@pytest.fixture
def dying_redis(settings) -> Iterator[ClosingPort]:
    port = ClosingPort()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port.port}/0",
        }
    }
    outage.forget()
    try:
        yield port
    finally:
        port.close()


def _quote(n: int) -> dict:
    key = fingerprint(request={"n": n})
    return get_or_compute("rates", key, ttl=60, compute=lambda: {"price": n})


def _warnings(caplog) -> list[str]:
    return [r.name for r in caplog.records if r.levelno >= logging.WARNING]


def test_in_a_noted_outage_redis_is_not_asked(dying_redis, caplog):
    caplog.set_level(logging.INFO)
    outage.failed(redis_line.RedisConnectionError("dropped"))  # a payment's gate
    assert [_quote(n) for n in range(3)] == [{"price": 0}, {"price": 1}, {"price": 2}]
    assert dying_redis.accepted == 0
    assert _warnings(caplog) == [redis_line.logger.name]


def test_an_outage_it_meets_is_noted_once(dying_redis, caplog):
    caplog.set_level(logging.INFO)
    for n in range(3):
        assert _quote(n) == {"price": n}
    with pytest.raises(RedisPaused):
        outage.check()
    assert _warnings(caplog) == [redis_line.logger.name]
