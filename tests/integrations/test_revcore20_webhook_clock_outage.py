"""Redis down during webhook intake: the time checks fall back to this
process's clock (webhook_now), and an outage is one log line and one failed
attempt, not a line and a connect per delivery (a flood exactly when the
operator reads the logs, and a connect each request the outage lasts)."""

import contextlib
import logging
import socket
import threading
from collections.abc import Iterator

import pytest
from django.test import Client

from integrations import redis_line
from integrations.breaker.store import forget_recent
from tests.factories import ProviderAccountFactory
from tests.integrations.webhooks.conftest import SECRET, make_body, sw_headers

pytestmark = pytest.mark.django_db

DELIVERIES = 5


class ClosingPort:
    """127.0.0.1: every connection accepted, then closed unanswered (a Redis
    dying under load); counts the connections."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(5)


@pytest.fixture
def dying_redis(settings) -> Iterator[ClosingPort]:
    port = ClosingPort()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port.port}/0",
        }
    }
    forget_recent()
    try:
        yield port
    finally:
        port.close()


def _deliver(slug: str) -> int:
    body = make_body(amount=100)
    return (
        Client()
        .post(
            f"/webhooks/{slug}/",
            data=body,
            content_type="application/json",
            **sw_headers(body, secret=SECRET),
        )
        .status_code
    )


def _clock_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == redis_line.logger.name]


def test_an_outage_is_logged_once_not_per_delivery(dying_redis, caplog):
    account = ProviderAccountFactory(slug="sbx-pay")
    caplog.set_level(logging.INFO, logger=redis_line.logger.name)
    for _ in range(DELIVERIES):
        assert _deliver(account.slug) == 200
    lines = _clock_lines(caplog)
    assert [r.levelno for r in lines] == [logging.WARNING], lines


def test_an_outage_costs_one_attempt_not_one_per_delivery(dying_redis, monkeypatch):
    # A pause no loaded machine outlasts: the deliveries all fall inside it.
    monkeypatch.setattr(redis_line, "OUTAGE_PAUSE_SECONDS", 3600.0)
    account = ProviderAccountFactory(slug="sbx-pay")
    assert _deliver(account.slug) == 200
    first = dying_redis.accepted
    assert first >= 1  # the first delivery did try Redis
    for _ in range(DELIVERIES - 1):
        assert _deliver(account.slug) == 200
    assert dying_redis.accepted == first


def test_the_shared_clock_is_tried_again_after_the_pause(
    dying_redis, monkeypatch, settings, caplog
):
    account = ProviderAccountFactory(slug="sbx-pay")
    caplog.set_level(logging.INFO, logger=redis_line.logger.name)
    assert _deliver(account.slug) == 200
    first = dying_redis.accepted
    # Time passes by the monotonic clock the pause is measured by.
    later = redis_line.time.monotonic() + redis_line.OUTAGE_PAUSE_SECONDS
    monkeypatch.setattr(redis_line.time, "monotonic", lambda: later + 1)
    assert _deliver(account.slug) == 200
    assert dying_redis.accepted > first
    # Still down: no second warning for the same outage.
    assert len(_clock_lines(caplog)) == 1
