"""Amazon SES webhooks (SNS) while Redis cannot be reached: the signing
certificate's cache (a read and a write per message) obeys the one outage
record (``redis_line.outage``). In a noted outage it does not ask Redis
(each ask costs a dropped network its timeout, twice per message) and logs
no traceback of its own per message; the certificate is fetched and the
signature still checked, so the message is stored."""

import logging
from collections.abc import Iterator

import pytest
import responses
from django.test import Client

from integrations import redis_line
from integrations.models import WebhookEvent
from integrations.redis_line import outage
from notifications.providers import ses_events
from tests.integrations.test_revcore20_webhook_clock_outage import ClosingPort
from tests.notifications.contract.harness_amazon_ses import (
    event,
    make_account,
    notification,
)

pytestmark = pytest.mark.django_db

MESSAGES = 3


@pytest.fixture
def dying_redis(settings) -> Iterator[ClosingPort]:
    port = ClosingPort()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port.port}/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    outage.forget()
    try:
        yield port
    finally:
        port.close()


def _post(account, hook) -> int:
    return (
        Client()
        .generic(
            "POST",
            f"/webhooks/{account.slug}/",
            data=hook.body,
            content_type=hook.headers["Content-Type"],
            HTTP_X_AMZ_SNS_MESSAGE_TYPE=hook.headers["x-amz-sns-message-type"],
        )
        .status_code
    )


@responses.activate
def test_in_a_noted_outage_redis_is_not_asked(dying_redis, caplog):
    account = make_account()
    outage.failed(redis_line.RedisConnectionError("dropped"))  # a payment's gate
    caplog.set_level(logging.INFO)
    for _ in range(MESSAGES):
        assert _post(account, notification(responses, event("delivery"))) == 200
    assert dying_redis.accepted == 0
    assert WebhookEvent.objects.filter(account=account).count() == MESSAGES
    own = [r for r in caplog.records if r.name == ses_events.logger.name]
    assert not [r for r in own if r.levelno >= logging.WARNING]


@responses.activate
def test_an_outage_it_meets_is_noted_once(dying_redis, monkeypatch, caplog):
    monkeypatch.setattr(redis_line, "OUTAGE_PAUSE_SECONDS", 3600.0)
    account = make_account()
    caplog.set_level(logging.INFO)
    assert _post(account, notification(responses, event("delivery"))) == 200
    first = dying_redis.accepted
    for _ in range(MESSAGES - 1):
        assert _post(account, notification(responses, event("delivery"))) == 200
    assert dying_redis.accepted == first
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.name for r in warnings] == [redis_line.logger.name]
