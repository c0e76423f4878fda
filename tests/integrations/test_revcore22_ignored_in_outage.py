"""A paced (bulk) call that holds the half-open probe and is throttled by the
provider (429) after Redis went away mid-call: the breaker's "ignored" count
(it frees the probe) cannot reach Redis. The provider's answer stands: the
call ends with its throttle error (come back later), never a raw RedisError
in its place, and the outage is noted once."""

import copy

import pytest
from django.conf import settings as django_settings
from redis.exceptions import RedisError

from integrations.breaker import breaker_for
from integrations.breaker.machine import _held_probes
from integrations.breaker.store import forget_recent
from integrations.client import client_for
from integrations.errors import NotProcessed
from integrations.redis_line import RedisPaused, outage
from tests.factories import ProviderAccountFactory

pytestmark = [pytest.mark.redis, pytest.mark.django_db]

REAL_CACHES = copy.deepcopy(django_settings.CACHES)
REFUSED = {"default": {**REAL_CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}}


@pytest.fixture
def half_open(settings):
    account = ProviderAccountFactory(slug="sbx-rc22-bulk")
    forget_recent()
    outage.forget()
    breaker = breaker_for(account)
    now = breaker.store.now()
    breaker.store.save_record(
        {
            "state": "open",
            "gen": 1,
            "opened_until": now - 1,  # its open period over: one probe
            "last_state": "open",
            "at": now - 60,
            "reason": "test",
        }
    )
    yield account
    _held_probes().clear()
    forget_recent()


def test_a_throttled_probe_keeps_its_answer_when_redis_went(half_open, settings):
    client = client_for(half_open)
    with (
        pytest.raises(Exception) as caught,
        client.operation("bulk_send", pacing=True),
    ):
        assert half_open.pk in _held_probes()  # this call is the probe
        settings.CACHES = copy.deepcopy(REFUSED)  # Redis gone mid-call
        raise NotProcessed("slow down", code="too_many_requests", http_status=429)
    assert not isinstance(caught.value, RedisError), repr(caught.value)
    assert isinstance(caught.value, NotProcessed)
    assert caught.value.http_status == 429
    with pytest.raises(RedisPaused):
        outage.check()  # noted: the next calls do not ask Redis in its pause
