"""The API throttle's Retry-After once the rate was lowered (API_RATE changed
and the web processes restarted): a key's window may hold more requests than
the new limit, and a retry is only let in when enough of them have left, not
when the oldest one has. Retry-After says that time, so a client that obeys it
is not throttled again (and again)."""

import time

import pytest
from rest_framework.test import APIClient

from integrations.redis_line import raw_key, redis_handle
from tests.factories import ApiKeyFactory
from tests.integrations.api.conftest import TEST_URLS
from tests.integrations.api.helpers import assert_error

pytestmark = [pytest.mark.django_db, pytest.mark.redis, pytest.mark.urls(TEST_URLS)]

ME = "/api/v1/me/"


def _rate(settings, rate: str) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": rate},
    }


def test_retry_after_waits_for_enough_requests_to_leave(settings):
    if not settings.REDIS_URL:
        pytest.skip("needs service: Redis not configured (set REDIS_URL)")
    api_key = ApiKeyFactory(scopes=["inventory:write"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.raw_key}")
    _rate(settings, "3/min")
    assert client.get(ME).status_code == 200
    # Three requests in the last minute, by Redis's clock: 50, 40 and 5
    # seconds ago.
    redis = redis_handle().client
    key = raw_key(f"throttle_api_key_key-{api_key.pk}:window")
    began = time.monotonic()
    seconds, micros = redis.time()
    now = seconds + micros / 1_000_000
    redis.delete(key)
    redis.zadd(key, {"a": now - 50, "b": now - 40, "c": now - 5})
    redis.expire(key, 60)

    _rate(settings, "1/min")
    response = client.get(ME)

    assert_error(response, 429, "throttled")
    # One fits only when all three have left: the newest, 55 s from then,
    # less the time the request took to be throttled (however loaded).
    spent = time.monotonic() - began
    assert 55 - spent <= int(response["Retry-After"]) <= 56
