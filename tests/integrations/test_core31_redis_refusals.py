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

import pytest

from integrations import redis_line
from integrations.redis_line import RedisPaused, outage
from tests.factories import ProviderAccountFactory
from tests.integrations.redis_refusing import (
    Refusing,
    cache_on,
    line_records,
    pay_captured,
)

pytestmark = pytest.mark.django_db

NOREPLICAS = "NOREPLICAS Not enough good replicas to write."
MAXCLIENTS = "ERR max number of clients reached"


@pytest.fixture
def answering(request, settings) -> Iterator[Refusing]:
    error, at_handshake = request.param
    server = Refusing(error, handshake_error=error if at_handshake else None)
    try:
        with cache_on(settings, server.url()):
            yield server
    finally:
        server.close()


STATES = [(NOREPLICAS, False), (MAXCLIENTS, True)]


@pytest.mark.parametrize(
    "answering", STATES, indirect=True, ids=["noreplicas", "maxclients"]
)
def test_a_passing_server_state_is_an_outage(answering, caplog):
    caplog.set_level(logging.INFO)
    ProviderAccountFactory(slug="sbx-primary")
    pay_captured("core31")  # goes out unguarded, as in any outage
    with pytest.raises(RedisPaused):
        outage.check()  # paused: asked again after it, not per call
    asked = answering.connections + answering.refused
    pay_captured("core31")
    assert answering.connections + answering.refused == asked
    assert len(line_records(caplog, logging.WARNING)) == 1
    assert line_records(caplog, logging.ERROR) == []


@pytest.mark.parametrize(
    "answering", STATES, indirect=True, ids=["noreplicas", "maxclients"]
)
def test_the_answer_is_not_asked_again_at_once(answering):
    # The server answered: a new connection would get the same answer (and
    # a server at maxclients one more connection to refuse).
    ProviderAccountFactory(slug="sbx-primary")
    pay_captured("core31")
    assert answering.connections == 1


def test_a_pipelined_noreplicas_is_an_outage_too():
    from redis.exceptions import ResponseError

    said = "Command # 1 (SET k v) of pipeline caused error: " + NOREPLICAS
    assert redis_line.is_outage(ResponseError(said))
    bare = ResponseError(NOREPLICAS.partition(" ")[2], status_code="NOREPLICAS")
    assert redis_line.is_outage(bare)
