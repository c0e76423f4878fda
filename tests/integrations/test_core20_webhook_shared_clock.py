"""Signed webhook times are checked by the shared store's clock (Redis's, or
for Mailgun's tokens the database's without Redis), the one the replay
stores expire by, never a web process's own: one far behind would take a
captured Mailgun request once its token had expired (a replay), one ahead
would refuse fresh deliveries. Once the clock is learnt the check costs the
intake no round trip."""

import contextlib
import json
import time
from collections.abc import Iterator
from unittest import mock

import pytest
from django.core.cache import cache
from django.test import Client

from integrations.breaker.store import forget_recent
from integrations.models import WebhookEvent
from integrations.testing.clocks import whole_machine_clock
from integrations.testing.faultserver import RefusingPort
from tests.factories import ProviderAccountFactory
from tests.integrations.redis_clock_proxy import redis_clock_proxy
from tests.integrations.skewed_clocks import STORES, use_store
from tests.integrations.webhooks.conftest import make_body, sw_headers
from tests.notifications.contract.harness_mailgun import event, make_account, signed

pytestmark = pytest.mark.django_db

# Beyond the 300 s time check and the token's 660 s in the replay store.
OFF = 700.0
_MACHINE_TIME = time.time


@pytest.fixture(params=STORES)
def store(request, settings) -> str:
    """The replay store: Redis, or the database cache (the database's clock)."""
    use_store(request, settings, "integrations.cache_clock.DatabaseClockCache")
    cache.clear()
    return request.param


@pytest.fixture
def account():
    return ProviderAccountFactory(slug="sbx-pay")  # the sandbox: Standard Webhooks


@contextlib.contextmanager
def _web_process(skew: float) -> Iterator[None]:
    """A web process on a machine whose clock is ``skew`` seconds off."""
    skewed = lambda: _MACHINE_TIME() + skew  # noqa: E731
    with whole_machine_clock(skew), mock.patch.object(time, "time", skewed):
        yield


def _post(slug: str, body: bytes, **headers: str):
    return Client().post(
        f"/webhooks/{slug}/", data=body, content_type="application/json", **headers
    )


def _refused_as_stale(response, param: str) -> None:
    assert response.status_code == 401, response.content
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("timestamp_out_of_tolerance", param)


def test_a_process_behind_refuses_a_mailgun_replay_past_its_token(store):
    account = make_account()
    # Captured 700 s ago: its token has left the replay store (660 s).
    captured = signed(event("delivered"), timestamp=int(_MACHINE_TIME() - OFF))
    forged = json.loads(captured.body)
    forged["event-data"] = event("complained")
    with _web_process(-OFF):
        response = _post(account.slug, json.dumps(forged).encode())
    _refused_as_stale(response, "signature.timestamp")
    assert not WebhookEvent.objects.filter(account=account).exists()


def test_a_process_ahead_takes_a_fresh_mailgun_delivery(store):
    account = make_account()
    delivery = signed(event("delivered"))  # by Mailgun's (true) clock
    with _web_process(OFF):
        response = _post(account.slug, delivery.body)
    assert response.status_code == 200, response.content
    assert WebhookEvent.objects.filter(account=account).count() == 1


# Without Redis this check keeps the process's clock (webhook_now): its
# replays stop at the intake's dedupe, and the database's time would cost a
# statement before the intake's own.
@pytest.mark.parametrize("store", ["redis"], indirect=True)
def test_a_process_behind_refuses_an_old_standard_webhook(store, account):
    body = make_body(amount=100)
    headers = sw_headers(body, timestamp=int(_MACHINE_TIME() - OFF))
    with _web_process(-OFF):
        response = _post(account.slug, body, **headers)
    _refused_as_stale(response, "webhook-timestamp")


@pytest.mark.redis
def test_a_learnt_clock_costs_the_intake_no_round_trip(settings, account):
    with redis_clock_proxy(settings.REDIS_URL) as proxy:
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": proxy.url,
            }
        }
        cache.clear()
        forget_recent()
        for _ in range(3):
            body = make_body(amount=100)
            assert _post(account.slug, body, **sw_headers(body)).status_code == 200
        assert proxy.times == 1  # learnt on the first delivery, then carried
        cache.clear()


def test_redis_unreachable_checks_by_this_process_clock(settings, account, caplog):
    # Nothing else of a Standard Webhooks intake needs Redis: still taken.
    refusing = RefusingPort()
    try:
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": f"redis://127.0.0.1:{refusing.port}/0",
            }
        }
        body = make_body(amount=100)
        assert _post(account.slug, body, **sw_headers(body)).status_code == 200
        old = make_body(amount=200)
        headers = sw_headers(old, timestamp=int(_MACHINE_TIME() - OFF))
        _refused_as_stale(_post(account.slug, old, **headers), "webhook-timestamp")
    finally:
        refusing.close()
    assert "Redis unreachable: not asked again" in caplog.text
