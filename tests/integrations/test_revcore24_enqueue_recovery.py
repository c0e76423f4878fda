"""The outage record says down but Redis is back: an enqueue in the pause
takes its fallback at once (nothing lost), and the first one after the
pause goes to Redis directly, ends the outage (one INFO line) and is
queued; no enqueue waits longer than the pause to go direct again."""

import logging

import pytest
from django_q.conf import Conf
from redis.exceptions import ConnectionError as RedisConnectionError

from integrations import redis_line
from integrations.redis_line import RedisPaused, outage
from integrations.task_batcher import shared_broker
from storefront_hooks.services.queue import enqueue

pytestmark = [pytest.mark.redis, pytest.mark.django_db]


@pytest.fixture
def broker(monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", False)
    shared_broker.cache_clear()
    queue = shared_broker()
    queue.purge_queue()
    outage.forget()
    yield queue
    queue.purge_queue()
    outage.forget()
    shared_broker.cache_clear()


def test_the_first_enqueue_after_the_pause_goes_direct(broker, monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    outage.failed(RedisConnectionError("refused"))  # Redis came back since
    enqueue(1)  # in the pause: not asked, the row left for the sweeper
    assert broker.queue_size() == 0
    with pytest.raises(RedisPaused):
        outage.check()
    later = redis_line.time.monotonic() + redis_line.OUTAGE_PAUSE_SECONDS
    monkeypatch.setattr(redis_line.time, "monotonic", lambda: later)
    enqueue(2)
    assert broker.queue_size() == 1  # queued directly, the pause over
    outage.check()  # the outage ended: the next callers ask Redis too
    assert "Redis answers again" in caplog.text
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert loud == [], loud
