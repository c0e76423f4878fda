"""Mailgun webhooks while Redis cannot be reached. Mailgun does not retry a
``delivered`` notification (its "Automatic Retries" page), so one refused
503 in an outage was lost. The HMAC needs no shared store and the token's
replay check is kept in the database: a fresh signed event is stored in an
outage, a captured signature carried over to a forged body is refused
during and after it."""

import json
from collections.abc import Iterator

import pytest
from django.conf import settings as django_settings
from django.test import Client

from integrations import redis_line
from integrations.models import WebhookEvent
from integrations.redis_line import outage
from tests.integrations.test_revcore20_webhook_clock_outage import ClosingPort
from tests.notifications.contract.harness_mailgun import event, make_account, signed

pytestmark = pytest.mark.django_db


def _redis_at(settings, location: str) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": location,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }


@pytest.fixture
def dying_redis(settings) -> Iterator[ClosingPort]:
    port = ClosingPort()
    _redis_at(settings, f"redis://127.0.0.1:{port.port}/0")
    outage.forget()
    outage.failed(redis_line.RedisConnectionError("dropped"))  # noted elsewhere
    try:
        yield port
    finally:
        port.close()
        outage.forget()


def _post(account, body: bytes):
    return Client().post(
        f"/webhooks/{account.slug}/", data=body, content_type="application/json"
    )


def _forged(body: bytes) -> bytes:
    # A captured signature block carried over to another event.
    forged = json.loads(body)
    forged["event-data"] = event("complained")
    return json.dumps(forged).encode()


def _refused_as_replay(response) -> None:
    assert response.status_code == 401
    assert response.json()["error"]["param"] == "signature.token"


def test_a_delivered_webhook_in_an_outage_is_stored(dying_redis):
    account = make_account()
    response = _post(account, signed(event("delivered")).body)
    assert response.status_code == 200, response.content
    (stored,) = WebhookEvent.objects.filter(account=account)
    assert stored.event_type == "delivered"
    assert dying_redis.accepted == 0  # the noted outage: Redis not asked


def test_a_replay_in_an_outage_is_refused_and_the_same_event_is_a_duplicate(
    dying_redis,
):
    account = make_account()
    first = signed(event("delivered"))
    assert _post(account, first.body).status_code == 200
    _refused_as_replay(_post(account, _forged(first.body)))
    again = _post(account, first.body)
    assert (again.status_code, again.json()["duplicate"]) == (200, True)
    assert WebhookEvent.objects.filter(account=account).count() == 1


@pytest.mark.redis
def test_a_token_seen_in_an_outage_is_refused_after_it(settings):
    account = make_account()
    first = signed(event("delivered"))
    port = ClosingPort()
    try:
        _redis_at(settings, f"redis://127.0.0.1:{port.port}/0")
        outage.forget()
        assert _post(account, first.body).status_code == 200
    finally:
        port.close()
    _redis_at(settings, django_settings.REDIS_URL)
    outage.forget()  # Redis answers again
    _refused_as_replay(_post(account, _forged(first.body)))
    assert WebhookEvent.objects.filter(account=account).count() == 1


@pytest.mark.redis
def test_a_token_seen_before_an_outage_is_refused_in_it(settings):
    account = make_account()
    first = signed(event("delivered"))
    _redis_at(settings, django_settings.REDIS_URL)
    outage.forget()
    assert _post(account, first.body).status_code == 200
    port = ClosingPort()
    try:
        _redis_at(settings, f"redis://127.0.0.1:{port.port}/0")
        outage.failed(redis_line.RedisConnectionError("dropped"))
        _refused_as_replay(_post(account, _forged(first.body)))
    finally:
        port.close()
        outage.forget()
    assert WebhookEvent.objects.filter(account=account).count() == 1
