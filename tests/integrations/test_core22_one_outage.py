"""One Redis outage record per process (``redis_line.outage``): the breaker
state pages read and the webhook time checks note an outage there and obey
one noted elsewhere; one warning per outage, one pause, whoever meets it."""

import logging
import time
from collections.abc import Iterator

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from integrations import redis_line
from integrations.breaker.machine import breaker_snapshot_read
from integrations.breaker.store import forget_recent
from integrations.redis_line import RedisPaused, outage
from integrations.webhooks.verification import webhook_now
from tests.factories import ProviderAccountFactory
from tests.integrations.test_revcore20_webhook_clock_outage import ClosingPort

pytestmark = pytest.mark.django_db


@pytest.fixture
def dying_redis(settings) -> Iterator[ClosingPort]:
    port = ClosingPort()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port.port}/0",
        }
    }
    forget_recent()
    outage.forget()
    try:
        yield port
    finally:
        port.close()


def _warnings(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_failed_breaker_read_starts_the_outage(dying_redis):
    account = ProviderAccountFactory(slug="sbx-c22")
    assert breaker_snapshot_read(account).state is None
    with pytest.raises(RedisPaused):
        outage.check()


def test_a_failed_webhook_clock_starts_the_outage(dying_redis):
    before = time.time()
    assert before - 1 <= webhook_now() <= time.time() + 1
    with pytest.raises(RedisPaused):
        outage.check()


def test_an_outage_noted_elsewhere_is_obeyed_with_one_warning(dying_redis, caplog):
    caplog.set_level(logging.INFO)
    account = ProviderAccountFactory(slug="sbx-c22")
    outage.failed(RedisConnectionError("dropped"))  # e.g. a payment's gate
    assert breaker_snapshot_read(account).state is None
    assert abs(webhook_now() - time.time()) < 1
    assert dying_redis.accepted == 0  # neither asked Redis in the pause
    lines = _warnings(caplog)
    assert [r.name for r in lines] == [redis_line.logger.name], lines


def test_pages_and_webhooks_in_one_outage_warn_once(dying_redis, caplog):
    caplog.set_level(logging.INFO)
    account = ProviderAccountFactory(slug="sbx-c22")
    for _ in range(3):
        assert breaker_snapshot_read(account).state is None
        webhook_now()
    assert dying_redis.accepted >= 1
    lines = _warnings(caplog)
    assert [r.name for r in lines] == [redis_line.logger.name], lines


def test_the_pause_is_the_outage_pause(dying_redis, monkeypatch):
    account = ProviderAccountFactory(slug="sbx-c22")
    breaker_snapshot_read(account)
    first = dying_redis.accepted
    later = time.monotonic() + redis_line.OUTAGE_PAUSE_SECONDS + 1
    monkeypatch.setattr(redis_line.time, "monotonic", lambda: later)
    assert webhook_now() > 0
    assert dying_redis.accepted > first  # asked again after the one pause
