"""The API throttle on the database-cache fallback (no Redis) under
concurrent requests of one key: DRF's history is read, then written, so
requests that read it at once all fit and all pass. On Redis one script
counts atomically; on the database cache the key's history row is locked
from the read to the write, so a limit of 3 lets exactly 3 through."""

import threading

import pytest
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from tests.factories import ApiKeyFactory
from tests.integrations.api.conftest import TEST_URLS
from tests.integrations.skewed_clocks import throttle_rate, use_database_cache

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls(TEST_URLS),
]

ME = "/api/v1/me/"
LIMIT, REQUESTS = 3, 12


@pytest.fixture(autouse=True)
def _database_cache(settings) -> None:
    use_database_cache(settings)
    cache.clear()  # the table is no model's: a flush leaves its rows
    throttle_rate(settings, f"{LIMIT}/min")


def test_concurrent_requests_of_one_key_pass_only_up_to_the_limit():
    api_key = ApiKeyFactory(scopes=["inventory:write"])
    start = threading.Barrier(REQUESTS)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def request() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.raw_key}")
        try:
            start.wait()
            statuses.append(client.get(ME).status_code)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(REQUESTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(statuses) == [200] * LIMIT + [429] * (REQUESTS - LIMIT)
