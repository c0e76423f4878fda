"""/readyz probed every few seconds through a Redis outage: each probe
still asks (a readiness probe answers about now) and says not ready, but
the outage is warned once, by its one record (``redis_line.outage``), not
once per probe; a Redis refusal is its one ERROR; the answer that comes
back ends the outage (its one INFO line). A database failure still warns
per probe: it is not Redis's outage."""

import logging
import socket

import pytest
from django.db import OperationalError, connection
from django.test import override_settings
from django_q.brokers.redis_broker import Redis as RedisBroker

from integrations import redis_line, views_ops
from integrations.redis_line import outage
from tests.integrations.redis_refusing import OOM, Refusing

pytestmark = pytest.mark.django_db

REDIS_CACHE = "django.core.cache.backends.redis.RedisCache"
PROBES = 4


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _redis_cache_at(url: str):
    return override_settings(
        CACHES={
            "default": {
                "BACKEND": REDIS_CACHE,
                "LOCATION": url,
                "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
            }
        }
    )


def _broker_at(url: str) -> RedisBroker:
    class Broker(RedisBroker):
        @staticmethod
        def get_connection(list_key: str | None = None):
            import redis

            return redis.Redis.from_url(url, socket_timeout=0.5)

    return Broker()


def _loud(caplog) -> list[tuple[str, int]]:
    return [(r.name, r.levelno) for r in caplog.records if r.levelno >= logging.WARNING]


def _probe(client, times: int = PROBES) -> list[dict]:
    bodies = []
    for _ in range(times):
        response = client.get("/readyz")
        assert response.status_code == 503
        bodies.append(response.json())
    return bodies


def test_probes_in_a_redis_outage_warn_once(client, monkeypatch, closed_port, caplog):
    caplog.set_level(logging.INFO)
    url = f"redis://127.0.0.1:{closed_port}/0"
    monkeypatch.setattr(views_ops, "task_broker", lambda: _broker_at(url))
    with _redis_cache_at(url):
        bodies = _probe(client)
    for body in bodies:  # every probe asked, and says so
        assert body["failing"] == ["cache", "broker"]
        assert body["checks"]["cache"] == "failed: ConnectionError"
    assert _loud(caplog) == [(redis_line.logger.name, logging.WARNING)]


def test_probes_of_a_silent_redis_warn_once(client, monkeypatch, settings, caplog):
    settings.READYZ_TIMEOUT_SECONDS = 0.2
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(8)  # accepts, never answers
        url = f"redis://127.0.0.1:{hole.getsockname()[1]}/0"
        monkeypatch.setattr(views_ops, "task_broker", lambda: _broker_at(url))
        bodies = _probe(client, times=2)
    assert all(b["checks"]["broker"] == "failed: CheckTimeout" for b in bodies)
    assert _loud(caplog) == [(redis_line.logger.name, logging.WARNING)]


@pytest.mark.redis  # the probe that answers asks the suite's Redis
def test_a_probe_that_gets_an_answer_ends_the_outage(client, closed_port, caplog):
    caplog.set_level(logging.INFO)
    with _redis_cache_at(f"redis://127.0.0.1:{closed_port}/0"):
        _probe(client, times=1)
    assert client.get("/readyz").status_code == 200  # Redis answers again
    outage.check()  # the record knows: callers ask Redis again at once
    ended = [r for r in caplog.records if r.getMessage() == "Redis answers again"]
    assert len(ended) == 1


def test_probes_of_a_refusing_redis_are_its_error_once(client, monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    server = Refusing(OOM)
    try:
        monkeypatch.setattr(views_ops, "task_broker", lambda: _broker_at(server.url()))
        with _redis_cache_at(server.url()):
            bodies = _probe(client)
    finally:
        server.close()
    assert all(b["checks"]["cache"] == "failed: OutOfMemoryError" for b in bodies)
    assert _loud(caplog) == [(redis_line.logger.name, logging.ERROR)]
    outage.check()  # a refusal: no pause


def test_a_database_failure_still_warns_per_probe(client, monkeypatch, caplog):
    def refuse(*args, **kwargs):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(connection, "cursor", refuse)
    _probe(client, times=2)
    assert _loud(caplog) == [(views_ops.logger.name, logging.WARNING)] * 2
