"""A Redis whose clock is far off (a misconfigured server, a replica after a
failover): every process goes by it, so the breaker stays consistent, but
signed webhook times are the providers' true ones and every delivery would
be refused as stale with nothing saying why. The disagreement with this
host's clock is logged once (per process, per episode), naming how far."""

import logging

import pytest
from django.core.cache import cache
from django.test import Client

from integrations.breaker.store import forget_recent
from integrations.redis_line import redis_handle
from tests.factories import ProviderAccountFactory
from tests.integrations.redis_clock_proxy import redis_clock_proxy
from tests.integrations.webhooks.conftest import make_body, sw_headers

pytestmark = [pytest.mark.redis, pytest.mark.django_db]

HOUR = 3600
CLOCK_LOGGER = "integrations.cache_clock"


@pytest.fixture
def proxy(settings):
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


def _deliver(slug: str) -> int:
    body = make_body(amount=100)
    client = Client()
    return client.post(
        f"/webhooks/{slug}/",
        data=body,
        content_type="application/json",
        **sw_headers(body),
    ).status_code


def _skew_lines(caplog) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == CLOCK_LOGGER and r.levelno >= logging.WARNING
    ]


def test_a_redis_clock_an_hour_off_is_logged_once(proxy, caplog):
    account = ProviderAccountFactory(slug="sbx-pay")
    assert _deliver(account.slug) == 200  # in step first
    caplog.set_level(logging.INFO, logger=CLOCK_LOGGER)
    for _ in range(3):
        proxy.failover(HOUR)
        # A provider call's command on the line reconnects it: each delivery
        # learns the (new) server's time anew.
        redis_handle().line.command("PING")
        assert _deliver(account.slug) == 401  # refused as stale: by Redis's
    assert proxy.times >= 3
    lines = _skew_lines(caplog)
    assert len(lines) == 1, lines
    assert lines[0].seconds == pytest.approx(HOUR, abs=5)
    assert f"{lines[0].seconds} s" in lines[0].getMessage()


def test_a_redis_clock_in_step_is_not_logged(proxy, caplog):
    account = ProviderAccountFactory(slug="sbx-pay")
    caplog.set_level(logging.INFO, logger=CLOCK_LOGGER)
    proxy.failover(0)
    assert _deliver(account.slug) == 200
    assert proxy.times >= 1
    assert _skew_lines(caplog) == []
