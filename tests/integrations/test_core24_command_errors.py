"""What counts as a Redis outage. Only a Redis that cannot be reached (a
connection error, a timeout, loading) or cannot take writes for a moment (a
failover's READONLY) is one: one warning, the pause, the callers' ways
round. A command Redis answers with an error (full: OOM; a wrong password;
a bug: WRONGTYPE) is logged as an ERROR, not paused (Redis is asked again at
the next call: it answers at once), and the callers still take their way
round (a payment goes out unguarded: docs/transport.md)."""

import logging
from collections.abc import Iterator
from itertools import count

import pytest

from integrations import redis_line
from integrations.breaker.store import forget_recent
from integrations.ratelimit import limiter_for
from integrations.redis_line import RedisPaused, outage
from integrations.response_cache import get_or_compute
from payments import services
from tests.factories import ProviderAccountFactory
from tests.integrations.redis_refusing import OOM, READONLY, WRONGPASS, Refusing

pytestmark = pytest.mark.django_db

LIMITS = {"rate_limit_per_second": 5, "rate_limit_burst": 5}
PASSWORD = "s3cret-redis-pw"
_orders = count()


def _redis_at(settings, url: str) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    forget_recent()
    outage.forget()


@pytest.fixture
def refusing(request, settings) -> Iterator[Refusing]:
    error, password = request.param
    server = Refusing(error, handshake_error=WRONGPASS if password else None)
    _redis_at(settings, server.url(password))
    try:
        yield server
    finally:
        server.close()
        outage.forget()


def _pay() -> None:
    n = next(_orders)
    payment = services.payment_create(
        order_id=f"order-core24-{n}",
        amount=1050,
        currency="EUR",
        source_token="tok_success",
        capture=True,
        idempotency_key=f"key-core24-{n}",
    )
    assert payment.account.slug == "sbx-primary"
    assert payment.status == "captured", payment.status


def _lines(caplog, level: int) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == redis_line.logger.name and r.levelno == level
    ]


REFUSED = [(OOM, ""), ("WRONGTYPE Operation against a key", ""), ("x", PASSWORD)]


@pytest.mark.parametrize("refusing", REFUSED, indirect=True, ids=lambda p: p[0][:9])
def test_a_refused_command_is_an_error_not_an_outage(refusing, caplog):
    caplog.set_level(logging.INFO)
    account = ProviderAccountFactory(slug="sbx-primary", settings=LIMITS)
    _pay()  # fail open: the payment goes out without breaker or limiter
    outage.check()  # no pause: Redis answered
    asked = refusing.connections + refusing.refused
    _pay()
    assert limiter_for(account).acquire() == 0.0
    assert get_or_compute("rates", "k", ttl=60, compute=lambda: 7) == 7
    assert refusing.connections + refusing.refused > asked  # asked again
    errors = _lines(caplog, logging.ERROR)
    assert len(errors) == 1  # once per kind of refusal, not per call
    assert _lines(caplog, logging.WARNING) == []  # not "unreachable"
    assert PASSWORD not in caplog.text


@pytest.mark.parametrize("refusing", [(READONLY, "")], indirect=True)
def test_readonly_in_a_failover_is_an_outage_and_reconnects(
    refusing, caplog, monkeypatch
):
    caplog.set_level(logging.INFO)
    ProviderAccountFactory(slug="sbx-primary", settings=LIMITS)
    _pay()
    with pytest.raises(RedisPaused):
        outage.check()  # the outage's pause
    assert len(_lines(caplog, logging.WARNING)) == 1
    assert _lines(caplog, logging.ERROR) == []
    connects = redis_line.line_connects()
    later = redis_line.time.monotonic() + redis_line.OUTAGE_PAUSE_SECONDS + 1
    monkeypatch.setattr(redis_line.time, "monotonic", lambda: later)
    _pay()
    # The demoted server's connection was dropped: the line connects anew
    # (to the new primary once the address moves).
    assert redis_line.line_connects() > connects
