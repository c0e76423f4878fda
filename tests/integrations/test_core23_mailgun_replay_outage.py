"""Mailgun's webhooks (the signature covers timestamp and token, not the
body: a token kept per account binds it to the first body) while Redis
cannot be reached. The time check obeys the one outage record
(``redis_line.outage``): in a noted outage it does not ask Redis (each ask
costs a dropped network its timeout per webhook), and one it meets is noted
there, one warning for all. The tokens are kept in the database
(test_mail23_replay_outage), so a webhook is still stored in an outage and a
captured signature carried over to a forged event still refused: the
intake's event-id dedupe stops only the same event again."""

import json
import logging
from collections.abc import Iterator

import pytest
from django.conf import settings as django_settings
from django.test import Client

from integrations import redis_line
from integrations.models import WebhookEvent
from integrations.redis_line import outage
from notifications.providers import mailgun as mailgun_module
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
    try:
        yield port
    finally:
        port.close()


def _post(account, body: bytes):
    return Client().post(
        f"/webhooks/{account.slug}/", data=body, content_type="application/json"
    )


def _forged(body: bytes) -> bytes:
    # A captured signature block carried over to another event.
    forged = json.loads(body)
    forged["event-data"] = event("complained")
    return json.dumps(forged).encode()


def _stored(response) -> None:
    assert response.status_code == 200, response.content
    assert response.json() == {"received": True, "duplicate": False}


def _refused_as_replay(response) -> None:
    assert response.status_code == 401
    assert response.json()["error"]["param"] == "signature.token"


def test_in_a_noted_outage_redis_is_not_asked(dying_redis):
    account = make_account()
    outage.failed(redis_line.RedisConnectionError("dropped"))  # a payment's gate
    for name in ("delivered", "opened", "clicked"):
        _stored(_post(account, signed(event(name)).body))
    assert dying_redis.accepted == 0
    assert WebhookEvent.objects.filter(account=account).count() == 3


def test_an_outage_it_meets_is_noted_once(dying_redis, monkeypatch, caplog):
    monkeypatch.setattr(redis_line, "OUTAGE_PAUSE_SECONDS", 3600.0)
    account = make_account()
    caplog.set_level(logging.INFO)
    _stored(_post(account, signed(event("delivered")).body))
    first = dying_redis.accepted
    for name in ("opened", "clicked"):
        _stored(_post(account, signed(event(name)).body))
    assert dying_redis.accepted == first
    outage_lines = [r for r in caplog.records if r.name == redis_line.logger.name]
    assert [r.levelno for r in outage_lines] == [logging.WARNING]
    # No traceback per webhook from the token check: the outage says it once.
    adapter_lines = [r for r in caplog.records if r.name == mailgun_module.logger.name]
    assert not [r for r in adapter_lines if r.levelno >= logging.WARNING]


@pytest.mark.redis
def test_a_replay_in_an_outage_is_refused_and_after_it_too(settings):
    """What stops a replay: the token store, which needs no Redis."""
    working = django_settings.REDIS_URL
    account = make_account()
    first = signed(event("delivered"))
    _redis_at(settings, working)
    assert _post(account, first.body).status_code == 200
    port = ClosingPort()
    try:
        _redis_at(settings, f"redis://127.0.0.1:{port.port}/0")
        _refused_as_replay(_post(account, _forged(first.body)))
        again = _post(account, first.body)  # the same event: the intake's dedupe
        assert (again.status_code, again.json()["duplicate"]) == (200, True)
        assert WebhookEvent.objects.filter(account=account).count() == 1
    finally:
        port.close()
    _redis_at(settings, working)
    outage.forget()  # its pause over: Redis is asked again
    _refused_as_replay(_post(account, _forged(first.body)))
    again = _post(account, first.body)
    assert (again.status_code, again.json()["duplicate"]) == (200, True)
    assert WebhookEvent.objects.filter(account=account).count() == 1
