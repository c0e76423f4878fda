"""While Redis does not answer (it takes connections and never replies, the
costly kind of outage), account-setup alerts cost the send no timeout per
message: the shared claim is not asked again for the outage's pause, each
process alerts by its own limit, and every message keeps its reason. A
guard of mail22's design (it holds on that code)."""

import logging
import socket
import time
from collections.abc import Iterator

import pytest

from integrations.redis_line import outage
from notifications.models import EmailStatus
from notifications.providers import base
from tests.factories import ProviderAccountFactory
from tests.notifications.mailgun_sandbox import (
    DOMAIN,
    sandbox_refusing,  # noqa: F401 (the ``fault`` fixture)
)
from tests.notifications.providers.conftest import fast
from tests.notifications.scripted_relay import delivered, error_records

pytestmark = pytest.mark.django_db

TIMEOUT = 0.5


@pytest.fixture(autouse=True)
def _fresh_process() -> Iterator[None]:
    base.setup_alerts_forget()
    outage.forget()
    yield
    outage.forget()
    base.setup_alerts_forget()


@pytest.fixture
def silent_redis(settings) -> Iterator[None]:
    """A Redis that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"socket_connect_timeout": TIMEOUT, "socket_timeout": TIMEOUT},
        }
    }
    yield
    listener.close()


def test_a_silent_redis_costs_no_timeout_per_refused_message(
    fault, silent_redis, caplog, monkeypatch
) -> None:
    ProviderAccountFactory(
        kind="email",
        provider="mailgun",
        slug="mailgun-revmail22",
        credentials={"api_key": "key-revmail22-secret"},
        settings=fast(sender_domain=DOMAIN),
    )
    claims: list[float] = []
    claim = base._setup_alert_claim

    def timed(key: str) -> bool:
        started = time.monotonic()
        try:
            return claim(key)
        finally:
            claims.append(time.monotonic() - started)

    monkeypatch.setattr(base, "_setup_alert_claim", timed)
    with caplog.at_level(logging.ERROR):
        for _ in range(8):
            status, message = delivered()
            assert (status, message.error_code) == (
                EmailStatus.QUEUED,
                "sending_not_allowed",
            )
    assert len(claims) == 8
    # At most one claim waits out a timeout; the others are not asked.
    assert sum(took >= TIMEOUT / 2 for took in claims) <= 1
    assert sum(claims) < 2 * TIMEOUT + 0.5
    assert [r.reason for r in error_records(caplog)] == ["sending_not_allowed"]
