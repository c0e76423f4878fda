"""BUSY (a script past its time limit: Redis answers every other command
so until it ends or is killed) and MASTERDOWN (a replica that lost its
primary, during a failover or resync) are transient server states that
end without anyone fixing anything, as LOADING and READONLY do: an
outage (one warning, the pause, asked again after it), not a refusal that
pages. MASTERDOWN, like READONLY, drops the line's connection so the next
try connects anew (to the new primary once the address moves)."""

import logging
from collections.abc import Iterator
from itertools import count

import pytest

from integrations import redis_line
from integrations.breaker.store import forget_recent
from integrations.redis_line import RedisPaused, outage
from payments import services
from tests.factories import ProviderAccountFactory
from tests.integrations.redis_refusing import Refusing

pytestmark = pytest.mark.django_db

BUSY = (
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or"
    " SHUTDOWN NOSAVE."
)
MASTERDOWN = (
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."
)
LOADING = "LOADING Redis is loading the dataset in memory"
_orders = count()


@pytest.fixture
def answering(request, settings) -> Iterator[Refusing]:
    server = Refusing(request.param)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": server.url(),
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


def _pay() -> None:
    n = next(_orders)
    payment = services.payment_create(
        order_id=f"order-core26-{n}",
        amount=1050,
        currency="EUR",
        source_token="tok_success",
        capture=True,
        idempotency_key=f"key-core26-{n}",
    )
    assert payment.status == "captured", payment.status


def _lines(caplog, level: int) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == redis_line.logger.name and r.levelno == level
    ]


@pytest.mark.parametrize("answering", [BUSY, MASTERDOWN, LOADING], indirect=True)
def test_a_transient_server_state_is_an_outage(answering, caplog):
    caplog.set_level(logging.INFO)
    ProviderAccountFactory(slug="sbx-primary")
    _pay()  # goes out unguarded, as in any outage
    with pytest.raises(RedisPaused):
        outage.check()  # paused: asked again after it, not per call
    asked = answering.connections + answering.refused
    _pay()
    assert answering.connections + answering.refused == asked
    assert len(_lines(caplog, logging.WARNING)) == 1
    assert _lines(caplog, logging.ERROR) == []


@pytest.mark.parametrize("answering", [BUSY, LOADING], indirect=True)
def test_a_busy_or_loading_answer_is_not_asked_again_at_once(answering):
    # The server answered: a new connection would get the same answer.
    ProviderAccountFactory(slug="sbx-primary")
    _pay()
    assert answering.connections == 1


@pytest.mark.parametrize("answering", [MASTERDOWN], indirect=True)
def test_masterdown_drops_the_connection_to_the_replica(answering, monkeypatch):
    ProviderAccountFactory(slug="sbx-primary")
    _pay()
    connects = redis_line.line_connects()
    later = redis_line.time.monotonic() + redis_line.OUTAGE_PAUSE_SECONDS + 1
    monkeypatch.setattr(redis_line.time, "monotonic", lambda: later)
    _pay()
    assert redis_line.line_connects() > connects
