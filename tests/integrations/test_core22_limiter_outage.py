"""Redis unreachable at the limiter's own reservations (``acquire``, the
path the client takes when the breaker is not plainly closed, and a paced
call's later reservations): the documented outage path, never a raw
RedisError. An interactive call goes out unpaced; a paced one is refused
as not sent (store_unavailable)."""

import socket
from collections.abc import Iterator

import pytest
from redis.exceptions import RedisError

from integrations import redis_line
from integrations.breaker.store import forget_recent
from integrations.errors import RedisUnreachable
from integrations.ratelimit import Reservation, limiter_for
from integrations.redis_line import RedisPaused, outage
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db

LIMITS = {
    "rate_limit_per_second": 1,
    "rate_limit_burst": 1,
    "rate_limit_max_wait_seconds": 0.05,
}


def _closed_port() -> int:
    # Bound then closed: nothing listens there, a connect is refused at once.
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


@pytest.fixture
def no_redis(settings) -> Iterator[None]:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{_closed_port()}/0",
        }
    }
    forget_recent()
    outage.forget()
    yield


def _limiter(slept: list[float]):
    account = ProviderAccountFactory(slug="sbx-c22-limits", settings=LIMITS)
    return limiter_for(account, sleep=slept.append)


def test_acquire_goes_unpaced_and_notes_the_outage(no_redis):
    slept: list[float] = []
    limiter = _limiter(slept)
    try:
        waited = limiter.acquire()
    except RedisError as exc:  # pragma: no cover - the defect
        pytest.fail(f"raw redis error escaped: {exc!r}")
    assert waited == 0.0
    assert slept == []
    with pytest.raises(RedisPaused):
        outage.check()


def test_acquire_in_the_pause_does_not_ask_redis(no_redis, monkeypatch):
    outage.failed(redis_line.RedisConnectionError("dropped"))
    limiter = _limiter([])

    def asked(*args, **kwargs):  # pragma: no cover - the defect
        raise AssertionError("Redis asked in the outage's pause")

    monkeypatch.setattr(redis_line.RedisLine, "run", asked)
    assert limiter.acquire() == 0.0


def test_a_paced_reservation_is_refused_as_not_sent(no_redis):
    slept: list[float] = []
    limiter = _limiter(slept)
    with pytest.raises(RedisUnreachable) as caught:
        limiter.pace(budget=5.0)
    assert caught.value.code == "store_unavailable"


def test_a_paced_calls_later_reservation_is_refused_as_not_sent(no_redis):
    # The client's gate reserved (refused: the bucket was empty) before Redis
    # went; the paced call's next reservation meets the outage.
    slept: list[float] = []
    limiter = _limiter(slept)
    with pytest.raises(RedisUnreachable) as caught:
        limiter.pace(budget=5.0, first=Reservation(False, 1.5))
    assert caught.value.code == "store_unavailable"
    assert slept  # it waited for the tokens first, as without the outage
