"""Redis black-holed (a dropped network, not a refused port): every Redis
call gives up within its configured timeout (REDIS_CONNECT_TIMEOUT_SECONDS,
REDIS_SOCKET_TIMEOUT_SECONDS) instead of waiting for the OS's TCP timeout:
the cache, the breaker and the limiter (over the shared line) and the task
broker; a provider call goes out unguarded (fail open, revcore21), a paced
(bulk) one is refused as not sent (``RedisUnreachable``), not retried.
The bounds are generous (3x the timeout): speed belongs to bench/."""

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.core.cache import cache
from redis.exceptions import RedisError

from integrations.breaker import breaker_for
from integrations.breaker.store import forget_recent
from integrations.client import client_for
from integrations.errors import RedisUnreachable
from integrations.models import ProviderCall
from integrations.ratelimit import LimitConfig, RateLimiter
from tests.factories import ProviderAccountFactory
from tests.integrations.redis_black_holes import Silent, Unaccepting, timed, watched

pytestmark = [pytest.mark.redis, pytest.mark.django_db]

CONNECT = django_settings.REDIS_CONNECT_TIMEOUT_SECONDS
SOCKET = django_settings.REDIS_SOCKET_TIMEOUT_SECONDS


@pytest.fixture(params=["silent", "unaccepting"])
def hole(request, settings) -> Iterator[Any]:
    """The default cache pointed at a black hole, its other options kept."""
    made = Silent() if request.param == "silent" else Unaccepting()
    settings.CACHES = {
        "default": {**django_settings.CACHES["default"], "LOCATION": made.url}
    }
    forget_recent()
    try:
        yield made
    finally:
        made.close()


def _bound(hole: Any) -> float:
    # A silent server answers the connect, then nothing: the socket timeout.
    return 3 * (SOCKET if isinstance(hole, Silent) else CONNECT)


def _gives_up_in_time(hole: Any, call: Any) -> None:
    with watched(hole):
        took, outcome = timed(call)
    assert isinstance(outcome, RedisError), outcome
    assert took < _bound(hole), f"{took:.1f} s"


def test_a_cache_read_gives_up_within_its_timeout(hole):
    _gives_up_in_time(hole, lambda: cache.get("core21"))


def test_a_breaker_read_gives_up_within_its_timeout(hole):
    breaker = breaker_for(ProviderAccountFactory(slug="sbx-core21"))
    _gives_up_in_time(hole, breaker.before_call)


def test_a_rate_limit_reservation_gives_up_within_its_timeout(hole):
    config = LimitConfig(
        rate=10.0,
        burst=10.0,
        max_wait=0.0,
        max_concurrency=None,
        concurrency_max_wait=0.0,
        slot_ttl=30.0,
    )
    limiter = RateLimiter(ProviderAccountFactory(slug="sbx-core21"), config=config)
    _gives_up_in_time(hole, limiter.reserve)


def _broker_at(port: int) -> "redis.Redis":
    # The task broker's own client (django_q's: redis.from_url of the
    # Q_CLUSTER setting), only its address moved to the black hole.
    broker = redis.from_url(django_settings.Q_CLUSTER["redis"])
    broker.connection_pool.connection_kwargs.update(host="127.0.0.1", port=port)
    return broker


def test_a_task_enqueue_gives_up_within_its_timeout(hole):
    broker = _broker_at(hole.port)
    with watched(hole):
        took, outcome = timed(lambda: broker.rpush("django_q:core21:q", b"task"))
    assert isinstance(outcome, RedisError), outcome
    # The broker waits a second longer per read (its BLPOP waits 1 s).
    bound = 3 * (SOCKET + 1 if isinstance(hole, Silent) else CONNECT)
    assert took < bound, f"{took:.1f} s"


def test_the_broker_still_waits_out_its_blocking_pop():
    # django_q's dequeue is BLPOP with 1 s: its read timeout must outlast it.
    broker = redis.from_url(django_settings.Q_CLUSTER["redis"])
    assert broker.blpop("django_q:core21-empty:q", 1) is None


def test_a_provider_call_goes_out_unguarded_within_its_timeout(hole):
    account = ProviderAccountFactory(slug="sbx-core21")
    sent = []
    with watched(hole):
        took, outcome = timed(
            lambda: client_for(account).call(
                "probe", lambda ctx: sent.append(1), idempotent=True
            )
        )
    assert not isinstance(outcome, Exception), outcome
    assert sent == [1]  # the breaker counted closed, the limiter passed
    assert took < _bound(hole), f"{took:.1f} s"
    assert ProviderCall.objects.get().error_code in ("", None)


def test_a_paced_call_is_refused_as_not_sent_within_its_timeout(hole):
    account = ProviderAccountFactory(slug="sbx-core21")
    sent = []
    with watched(hole):
        took, outcome = timed(
            lambda: client_for(account).call(
                "probe", lambda ctx: sent.append(1), idempotent=True, pacing=True
            )
        )
    assert isinstance(outcome, RedisUnreachable), outcome
    assert outcome.code == "store_unavailable"
    assert sent == []  # nothing reached the provider
    assert took < _bound(hole), f"{took:.1f} s"  # not retried
    call = ProviderCall.objects.get()
    assert call.error_code == "store_unavailable"
