"""BUSY is an outage on every path redis-py reports it by, not only a single
command's: a pipeline (the breaker's published modes, Django's
``cache.set_many``) rewrites the error's text to "Command # 1 (...) of
pipeline caused error: BUSY ...", which no longer starts with the code.
BUSYGROUP (a stream consumer group that exists) stays a refusal."""

import logging
from collections.abc import Iterator

import pytest
from redis.exceptions import RedisError, ResponseError

from integrations import redis_line
from integrations.breaker.store import published_modes
from integrations.cache_clock import redis_outage_guard
from integrations.redis_line import RedisPaused, is_outage, outage
from tests.integrations.redis_refusing import Refusing

pytestmark = pytest.mark.django_db

BUSY = (
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or"
    " SHUTDOWN NOSAVE."
)
BUSYGROUP = "BUSYGROUP Consumer Group name already exists"


@pytest.fixture
def busy(settings) -> Iterator[Refusing]:
    server = Refusing(BUSY)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": server.url(),
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    outage.forget()
    try:
        yield server
    finally:
        server.close()
        outage.forget()


def _loud(caplog) -> list[int]:
    return [
        r.levelno
        for r in caplog.records
        if r.name == redis_line.logger.name and r.levelno >= logging.WARNING
    ]


def test_busy_on_a_pipeline_is_an_outage_not_a_refusal(busy, caplog):
    with pytest.raises(RedisError):
        redis_outage_guard(published_modes, [1, 2])
    with pytest.raises(RedisPaused):
        outage.check()  # paused: not asked per call while the script runs
    assert _loud(caplog) == [logging.WARNING]


def test_busy_on_cache_set_many_is_an_outage(busy, caplog):
    from django.core.cache import cache

    with pytest.raises(RedisError):
        redis_outage_guard(cache.set_many, {"a": 1, "b": 2})
    with pytest.raises(RedisPaused):
        outage.check()
    assert _loud(caplog) == [logging.WARNING]


def test_busygroup_is_not_an_outage(caplog):
    refused = Refusing(BUSYGROUP)
    try:
        import redis

        client = redis.Redis.from_url(refused.url(), socket_timeout=0.5)
        with pytest.raises(ResponseError) as raised:
            client.xgroup_create("stream", "group")
        pipe = client.pipeline(transaction=False)
        pipe.xgroup_create("stream", "group")
        with pytest.raises(ResponseError) as piped:
            pipe.execute()
    finally:
        refused.close()
    assert not is_outage(raised.value)
    assert not is_outage(piped.value)
