"""The TIME-shifting Redis proxy of the tests listens on 127.0.0.1 only and
is gone when its block ends: no port still listening, no thread left
blocked in accept (one per test that used it, for the rest of the run)."""

import socket
import threading
import time

import pytest
import redis

from tests.integrations.redis_clock_proxy import redis_clock_proxy

pytestmark = pytest.mark.redis


def _threads() -> set[threading.Thread]:
    return set(threading.enumerate())


def _settled(before: set[threading.Thread], wait: float = 2.0) -> set[threading.Thread]:
    give_up = time.monotonic() + wait
    while (left := _threads() - before) and time.monotonic() < give_up:
        time.sleep(0.01)
    return left


def test_the_proxy_listens_on_loopback_only(settings):
    with redis_clock_proxy(settings.REDIS_URL) as proxy:
        assert proxy.url.split("//")[1].startswith("127.0.0.1:")
        assert proxy._listener.getsockname()[0] == "127.0.0.1"


def test_the_proxy_is_torn_down(settings):
    before = _threads()
    with redis_clock_proxy(settings.REDIS_URL, offset=5) as proxy:
        client = redis.Redis.from_url(proxy.url)
        assert client.ping()
        port = proxy._listener.getsockname()[1]
    client.close()
    assert _settled(before) == set()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_the_proxy_is_torn_down_when_redis_is_down():
    # The upstream refuses: the client's connection is closed, not left open.
    with socket.create_server(("127.0.0.1", 0)) as gone:
        dead_url = f"redis://127.0.0.1:{gone.getsockname()[1]}/0"
    before = _threads()
    with redis_clock_proxy(dead_url) as proxy:
        client = redis.Redis.from_url(proxy.url, socket_timeout=2)
        with pytest.raises(redis.ConnectionError):
            client.ping()
        client.close()
    assert _settled(before) == set()
