"""BUSY (a script past its time limit: Redis answers every other command
so until it ends or is killed) and MASTERDOWN (a replica that lost its
primary, during a failover or resync) are transient server states that
end without anyone fixing anything, as LOADING and READONLY do: an
outage (one warning, the pause, asked again after it), not a refusal that
pages. MASTERDOWN, like READONLY, drops the line's connection so the next
try connects anew (to the new primary once the address moves)."""

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

BUSY = (
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or"
    " SHUTDOWN NOSAVE."
)
MASTERDOWN = (
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."
)
LOADING = "LOADING Redis is loading the dataset in memory"


@pytest.fixture
def answering(request, settings) -> Iterator[Refusing]:
    server = Refusing(request.param)
    try:
        with cache_on(settings, server.url()):
            yield server
    finally:
        server.close()


@pytest.mark.parametrize("answering", [BUSY, MASTERDOWN, LOADING], indirect=True)
def test_a_transient_server_state_is_an_outage(answering, caplog):
    caplog.set_level(logging.INFO)
    ProviderAccountFactory(slug="sbx-primary")
    pay_captured("core26")  # goes out unguarded, as in any outage
    with pytest.raises(RedisPaused):
        outage.check()  # paused: asked again after it, not per call
    asked = answering.connections + answering.refused
    pay_captured("core26")
    assert answering.connections + answering.refused == asked
    assert len(line_records(caplog, logging.WARNING)) == 1
    assert line_records(caplog, logging.ERROR) == []


@pytest.mark.parametrize("answering", [BUSY, LOADING], indirect=True)
def test_a_busy_or_loading_answer_is_not_asked_again_at_once(answering):
    # The server answered: a new connection would get the same answer.
    ProviderAccountFactory(slug="sbx-primary")
    pay_captured("core26")
    assert answering.connections == 1


@pytest.mark.parametrize("answering", [MASTERDOWN], indirect=True)
def test_masterdown_drops_the_connection_to_the_replica(answering, monkeypatch):
    ProviderAccountFactory(slug="sbx-primary")
    pay_captured("core26")
    connects = redis_line.line_connects()
    later = redis_line.time.monotonic() + redis_line.OUTAGE_PAUSE_SECONDS + 1
    monkeypatch.setattr(redis_line.time, "monotonic", lambda: later)
    pay_captured("core26")
    assert redis_line.line_connects() > connects
