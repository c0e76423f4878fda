"""The API throttle on Redis: one atomic window per key, so requests of one
key racing each other never get past the limit (DRF's history, read then
written back, lets them)."""

import threading
from types import SimpleNamespace

import pytest
from rest_framework.settings import api_settings

from integrations.api.throttling import ApiKeyRateThrottle
from integrations.models import ApiKey
from integrations.redis_line import redis_handle

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _redis_only():
    if redis_handle() is None:
        pytest.skip("the window script runs on Redis only")


def _request(pk: int) -> SimpleNamespace:
    return SimpleNamespace(auth=ApiKey(pk=pk), user=None, META={})


def test_racing_requests_of_one_key_get_exactly_the_limit(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "25/min"},
    }
    api_settings.reload()
    allowed: list[bool] = []
    start = threading.Barrier(8)

    def client() -> None:
        start.wait()
        for _ in range(10):
            allowed.append(ApiKeyRateThrottle().allow_request(_request(7), None))

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert allowed.count(True) == 25
    refused = ApiKeyRateThrottle()
    assert not refused.allow_request(_request(7), None)
    assert 0 < refused.wait() <= 60
    assert ApiKeyRateThrottle().allow_request(_request(8), None)  # its own window
