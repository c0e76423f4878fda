"""A wrong Redis password is refused in the handshake: that is the answer,
and connecting again at once gets the same one. One connect per command on
the breaker's and limiter's line, not two (a stale connection, dropped by a
restart, is still reopened once)."""

import logging
from collections.abc import Iterator

import pytest

from integrations import redis_line
from integrations.breaker.store import forget_recent
from integrations.ratelimit import limiter_for
from integrations.redis_line import outage
from tests.factories import ProviderAccountFactory
from tests.integrations.redis_refusing import WRONGPASS, Refusing

pytestmark = pytest.mark.django_db

PASSWORD = "s3cret-redis-pw"
LIMITS = {"rate_limit_per_second": 5, "rate_limit_burst": 5}


@pytest.fixture
def wrong_password(settings) -> Iterator[Refusing]:
    server = Refusing("x", handshake_error=WRONGPASS)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": server.url(PASSWORD),
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    forget_recent()
    outage.forget()
    try:
        yield server
    finally:
        server.close()
        outage.forget()


def test_a_wrong_password_costs_one_connect_per_command(wrong_password, caplog):
    caplog.set_level(logging.INFO)
    limiter = limiter_for(ProviderAccountFactory(slug="sbx-primary", settings=LIMITS))
    limiter.acquire()  # the line is made (and refused) here
    for _ in range(3):
        before = wrong_password.connections
        assert limiter.acquire() == 0.0  # fails open, as in an outage
        assert wrong_password.connections - before == 1
    outage.check()  # a refusal: no pause
    errors = [
        r
        for r in caplog.records
        if r.name == redis_line.logger.name and r.levelno >= logging.WARNING
    ]
    assert [r.levelno for r in errors] == [logging.ERROR]
    assert PASSWORD not in caplog.text
