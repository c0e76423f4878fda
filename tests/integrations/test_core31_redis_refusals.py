"""NOREPLICAS (a primary whose ``min-replicas-to-write`` replicas are
missing or lagging: "Writes start working again when enough replicas are
connected", Redis error reference) and "ERR max number of clients reached"
(the server is at ``maxclients``; it sends the error and closes the new
connection) are server states that pass without anything of ours changing:
an outage (one warning, the pause, asked again after it), not a refusal
that pages. Both are answers: a new connection at once gets the same one
(task core31)."""

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

NOREPLICAS = "NOREPLICAS Not enough good replicas to write."
MAXCLIENTS = "ERR max number of clients reached"
_orders = count()


@pytest.fixture
def answering(request, settings) -> Iterator[Refusing]:
    error, at_handshake = request.param
    server = Refusing(error, handshake_error=error if at_handshake else None)
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
        order_id=f"order-core31-{n}",
        amount=1050,
        currency="EUR",
        source_token="tok_success",
        capture=True,
        idempotency_key=f"key-core31-{n}",
    )
    assert payment.status == "captured", payment.status


def _lines(caplog, level: int) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == redis_line.logger.name and r.levelno == level
    ]


STATES = [(NOREPLICAS, False), (MAXCLIENTS, True)]


@pytest.mark.parametrize(
    "answering", STATES, indirect=True, ids=["noreplicas", "maxclients"]
)
def test_a_passing_server_state_is_an_outage(answering, caplog):
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


@pytest.mark.parametrize(
    "answering", STATES, indirect=True, ids=["noreplicas", "maxclients"]
)
def test_the_answer_is_not_asked_again_at_once(answering):
    # The server answered: a new connection would get the same answer (and
    # a server at maxclients one more connection to refuse).
    ProviderAccountFactory(slug="sbx-primary")
    _pay()
    assert answering.connections == 1


def test_a_pipelined_noreplicas_is_an_outage_too():
    from redis.exceptions import ResponseError

    said = "Command # 1 (SET k v) of pipeline caused error: " + NOREPLICAS
    assert redis_line.is_outage(ResponseError(said))
    bare = ResponseError(NOREPLICAS.partition(" ")[2], status_code="NOREPLICAS")
    assert redis_line.is_outage(bare)
