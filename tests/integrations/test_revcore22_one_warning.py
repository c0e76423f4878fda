"""One Redis outage, one warning per process, whoever meets it: a payment
(the client's gate and counts), the limiter, a breaker state page, the
webhook clock, the response cache. And the webhook clock on the database
cache (``database=True``, Mailgun's replay store) whose database statement
fails: this host's clock for that check, no pause and no warning of its own
(the intake's next statement meets the same database and says so)."""

import logging
import time
from collections.abc import Iterator

import pytest
from django.db import DatabaseError

from integrations import cache_clock, redis_line
from integrations.breaker.machine import breaker_snapshot_read
from integrations.breaker.store import forget_recent
from integrations.ratelimit import limiter_for
from integrations.redis_line import outage
from integrations.response_cache import get_or_compute
from integrations.webhooks.verification import webhook_now
from payments import services
from tests.factories import ProviderAccountFactory
from tests.integrations.test_revcore20_webhook_clock_outage import ClosingPort

pytestmark = pytest.mark.django_db

LIMITS = {"rate_limit_per_second": 5, "rate_limit_burst": 5}


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


def _warnings(caplog) -> list[str]:
    return [r.name for r in caplog.records if r.levelno >= logging.WARNING]


def test_every_caller_in_one_outage_warns_once(dying_redis, caplog):
    caplog.set_level(logging.INFO)
    account = ProviderAccountFactory(slug="sbx-primary", settings=LIMITS)
    for n in range(2):
        payment = services.payment_create(
            order_id=f"order-rc22w-{n}",
            amount=1050,
            currency="EUR",
            source_token="tok_success",
            capture=True,
            idempotency_key=f"key-rc22w-{n}",
        )
        assert payment.account.slug == "sbx-primary"
        assert limiter_for(account).acquire() == 0.0
        assert breaker_snapshot_read(account).state is None
        assert abs(webhook_now() - time.time()) < 1
        assert get_or_compute("rates", f"k{n}", ttl=60, compute=lambda n=n: n) == n
    assert _warnings(caplog) == [redis_line.logger.name]


def test_the_database_clock_failing_gives_this_hosts_time(
    settings, monkeypatch, caplog
):
    settings.CACHES = {
        "default": {
            "BACKEND": "integrations.cache_clock.DatabaseClockCache",
            "LOCATION": "switchyard_cache",
        }
    }
    outage.forget()

    def broken() -> None:
        raise DatabaseError("statement timeout")

    monkeypatch.setattr(cache_clock, "database_now", broken)
    caplog.set_level(logging.INFO)
    assert abs(webhook_now(database=True) - time.time()) < 1
    assert _warnings(caplog) == []
    outage.check()  # not a Redis outage: nothing noted
    with pytest.raises(DatabaseError):
        cache_clock.shared_now()  # the next statement says so
