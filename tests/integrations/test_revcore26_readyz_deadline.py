"""/readyz against a Redis that accepts and never answers: a load balancer
gives the probe READYZ_TIMEOUT_SECONDS, so the probe answers within it,
not within one timeout per Redis check (the cache's, then the broker's)."""

import socket
import time
from collections.abc import Iterator

import pytest
from django.test import override_settings
from redis.exceptions import ConnectionError as RedisConnectionError

from integrations import views_ops
from integrations.redis_line import RedisPaused, outage
from tests.integrations.test_core26_readyz_outage import _broker_at

pytestmark = pytest.mark.django_db

TIMEOUT = 0.5


@pytest.fixture
def silent_url() -> Iterator[str]:
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(8)  # accepts, never answers
        yield f"redis://127.0.0.1:{hole.getsockname()[1]}/0"
    outage.forget()


def test_a_probe_of_a_silent_redis_answers_within_its_timeout(
    client, monkeypatch, settings, silent_url
):
    settings.READYZ_TIMEOUT_SECONDS = TIMEOUT
    monkeypatch.setattr(views_ops, "task_broker", lambda: _broker_at(silent_url))
    cache = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": silent_url,
        "OPTIONS": {"socket_connect_timeout": 5, "socket_timeout": 5},
    }
    client.get("/healthz")  # the first request loads the URLs: not the probe's
    with override_settings(CACHES={"default": cache}):
        started = time.monotonic()
        response = client.get("/readyz")
        took = time.monotonic() - started
    assert response.status_code == 503
    assert response.json()["checks"]["cache"] == "failed: CheckTimeout"
    assert response.json()["checks"]["database"] == "ok"
    assert took < TIMEOUT + 0.3, took


@pytest.mark.redis  # the cache answers: the suite's Redis
def test_a_probe_whose_broker_fails_does_not_end_the_outage(
    client, monkeypatch, silent_url
):
    # The cache answers, the broker's own connection does not: the outage
    # callers meet (an enqueue) is not over, so the pause stands.
    monkeypatch.setattr(views_ops, "task_broker", lambda: _broker_at(silent_url))
    outage.failed(RedisConnectionError("refused"))
    response = client.get("/readyz")
    assert response.json()["checks"]["cache"] == "ok"
    assert response.json()["failing"] == ["broker"]
    with pytest.raises(RedisPaused):
        outage.check()
