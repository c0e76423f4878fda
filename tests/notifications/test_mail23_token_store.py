"""Mailgun's webhook tokens in the database (notifications.WebhookToken):
kept by the database's clock, which also purges them once their account's
tolerance is past; a database that cannot keep one answers 503 (nothing
stored, Mailgun delivers it again); a web host whose clock is behind in a
Redis outage cannot take a signature whose token may be purged."""

import hashlib
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from unittest import mock

import pytest
from django.db import OperationalError
from django.test import Client
from django.utils import timezone

from integrations import redis_line
from integrations.models import WebhookEvent
from integrations.redis_line import outage
from integrations.schedules import collect_jobs
from notifications import tasks
from notifications.models import WebhookToken
from notifications.services import webhook_tokens
from tests.factories import ProviderAccountFactory
from tests.notifications.contract.harness_mailgun import event, make_account, signed

pytestmark = pytest.mark.django_db

_MACHINE_TIME = time.time


def _post(account, body: bytes):
    return Client().post(
        f"/webhooks/{account.slug}/", data=body, content_type="application/json"
    )


def _forged(body: bytes) -> bytes:
    forged = json.loads(body)
    forged["event-data"] = event("complained")
    return json.dumps(forged).encode()


def _token(body: bytes) -> str:
    return json.loads(body)["signature"]["token"]


def _kept(account, token: str, age: float) -> WebhookToken:
    return WebhookToken.objects.create(
        account=account,
        token_digest=hashlib.sha256(token.encode()).hexdigest(),
        body_digest="0" * 64,
        signed_at=timezone.now() - timedelta(seconds=age),
    )


def test_a_token_is_kept_as_digests_with_its_signed_time():
    account = make_account()
    stamp = int(time.time()) - 30
    first = signed(event("delivered"), timestamp=stamp)
    assert _post(account, first.body).status_code == 200
    (kept,) = WebhookToken.objects.filter(account=account)
    token = _token(first.body)
    assert kept.token_digest == hashlib.sha256(token.encode()).hexdigest()
    assert kept.body_digest == hashlib.sha256(first.body).hexdigest()
    assert kept.signed_at.timestamp() == stamp
    assert token not in str(WebhookToken.objects.values().get())


def test_tokens_are_purged_past_their_accounts_tolerance():
    short = make_account()  # the default tolerance: 300 s
    wide = make_account()
    wide.settings["webhook_tolerance_seconds"] = 3600
    wide.save(update_fields=["settings"])
    old, recent = _kept(short, "old", 400), _kept(short, "recent", 200)
    wide_old = _kept(wide, "old", 1000)
    assert tasks.purge_webhook_tokens() == 1
    assert not WebhookToken.objects.filter(pk=old.pk).exists()
    assert WebhookToken.objects.filter(pk__in=[recent.pk, wide_old.pk]).count() == 2
    _kept(wide, "older", 3700)
    assert tasks.purge_webhook_tokens() == 1


def test_an_account_whose_adapter_cannot_load_keeps_its_tokens():
    gone = ProviderAccountFactory(kind="email", provider="no-such-provider")
    kept = _kept(gone, "t", 10_000)
    assert tasks.purge_webhook_tokens() == 0
    assert WebhookToken.objects.filter(pk=kept.pk).exists()


def test_a_token_not_yet_purged_still_refuses_a_replay():
    account = make_account()
    first = signed(event("delivered"))
    assert _post(account, first.body).status_code == 200
    tasks.purge_webhook_tokens()
    response = _post(account, _forged(first.body))
    assert response.status_code == 401
    assert response.json()["error"]["param"] == "signature.token"


def test_the_purge_is_a_scheduled_job():
    jobs = {job.func: job for job in collect_jobs()}
    assert jobs["notifications.tasks.purge_webhook_tokens"].minutes == 15


def test_a_token_store_that_fails_stores_nothing_and_asks_again(monkeypatch):
    account = make_account()

    def failing(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(webhook_tokens, "webhook_token_claim", failing)
    response = _post(account, signed(event("delivered")).body)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "verification_unavailable"
    assert not WebhookEvent.objects.filter(account=account).exists()


@pytest.fixture
def noted_outage(settings) -> Iterator[None]:
    # Nothing listens there; the outage is noted, so it is never asked.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
        }
    }
    outage.forget()
    outage.failed(redis_line.RedisConnectionError("dropped"))
    yield
    outage.forget()


@pytest.mark.postgres
def test_a_host_behind_in_an_outage_refuses_a_signature_past_the_purge(noted_outage):
    """In an outage the time check reads this host's clock; 700 s slow it
    would take a 700 s old signature, whose token the purge (by the
    database's clock) may have deleted: the claim checks the time again by
    the database's."""
    account = make_account()
    old = signed(event("delivered"), timestamp=int(_MACHINE_TIME()) - 700)
    behind = lambda: _MACHINE_TIME() - 700  # noqa: E731
    with mock.patch.object(time, "time", behind):
        response = _post(account, old.body)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "timestamp_out_of_tolerance"
    assert not WebhookEvent.objects.filter(account=account).exists()
