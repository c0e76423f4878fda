"""The task broker's connection to a server a failover left behind (READONLY:
demoted; MASTERDOWN: a replica cut off from its primary) is dropped, as the
breaker's line drops its own: redis-py keeps a connection that got an error
answer in its pool, so every enqueue after the pause would ask the same
server again, never the new primary the address now names."""

from collections.abc import Iterator

import pytest
from django_q.conf import Conf
from redis.exceptions import RedisError

from integrations import redis_line
from integrations.redis_line import outage
from integrations.task_batcher import shared_broker
from tests.integrations.redis_refusing import READONLY, Refusing

pytestmark = [pytest.mark.redis, pytest.mark.django_db]

MASTERDOWN = (
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."
)


@pytest.fixture
def left_behind(request, monkeypatch) -> Iterator[Refusing]:
    server = Refusing(request.param)
    monkeypatch.setattr(Conf, "REDIS", server.url())
    shared_broker.cache_clear()
    outage.forget()
    try:
        yield server
    finally:
        server.close()
        shared_broker.cache_clear()
        outage.forget()


def _after_the_pause(monkeypatch) -> None:
    later = redis_line.time.monotonic() + redis_line.OUTAGE_PAUSE_SECONDS + 1
    monkeypatch.setattr(redis_line.time, "monotonic", lambda: later)


@pytest.mark.parametrize("left_behind", [READONLY, MASTERDOWN], indirect=True)
def test_the_broker_connects_anew_after_a_left_behind_answer(left_behind, monkeypatch):
    with pytest.raises(RedisError):
        shared_broker().enqueue("task-1")
    assert left_behind.connections == 1
    _after_the_pause(monkeypatch)
    with pytest.raises(RedisError):
        shared_broker().enqueue("task-2")
    assert left_behind.connections == 2  # asked on a new connection
