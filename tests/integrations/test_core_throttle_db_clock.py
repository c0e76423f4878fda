"""The API throttle on the database-cache fallback (no Redis) between web
processes whose clocks disagree: the window runs on the database's clock, as
it runs on Redis's with Redis, so a web process ahead cannot slide it past a
key's requests, nor one behind throttle a key early or send an hour-long
Retry-After."""

import contextlib
import time
from collections.abc import Iterator
from unittest import mock

import pytest

from integrations.api.throttling import ApiKeyRateThrottle
from integrations.testing.clocks import shared_by_machines, whole_machine_clock
from tests.integrations.api.conftest import TEST_URLS
from tests.integrations.skewed_clocks import (
    api_key_client,  # noqa: F401 (the ``client`` fixture)
    stopwatch,
    throttle_rate,
    throttled,
    use_database_cache,
)

pytestmark = [pytest.mark.django_db, pytest.mark.urls(TEST_URLS)]

ME = "/api/v1/me/"
AHEAD = 3600.0  # a web host whose clock is an hour fast
_REAL_TIME = time.time


@pytest.fixture(autouse=True)
def _database_cache(settings) -> None:
    if not shared_by_machines():
        pytest.skip("needs service: clocks differ only with a server database")
    use_database_cache(settings)
    throttle_rate(settings, "3/min")


@contextlib.contextmanager
def _web_process(skew: float = 0.0) -> Iterator[None]:
    """Requests served by a web process on a machine ``skew`` seconds off."""
    skewed = lambda: _REAL_TIME() + skew  # noqa: E731
    with (
        whole_machine_clock(skew),
        mock.patch("time.time", skewed),
        mock.patch.object(ApiKeyRateThrottle, "timer", staticmethod(skewed)),
    ):
        yield


def test_a_web_process_ahead_does_not_reopen_the_window(client):
    spent = stopwatch()
    with _web_process():
        assert [client.get(ME).status_code for _ in range(3)] == [200] * 3
    with _web_process(AHEAD):
        retry_after = throttled(client.get(ME))
    assert 60 - spent() <= retry_after <= 60


def test_a_web_process_behind_does_not_extend_the_window(client):
    spent = stopwatch()
    with _web_process():
        assert [client.get(ME).status_code for _ in range(3)] == [200] * 3
    with _web_process(-AHEAD):
        retry_after = throttled(client.get(ME))
    assert 60 - spent() <= retry_after <= 60


def test_requests_counted_behind_still_count_on_time(client):
    spent = stopwatch()
    with _web_process(-AHEAD):
        assert [client.get(ME).status_code for _ in range(3)] == [200] * 3
    with _web_process():
        retry_after = throttled(client.get(ME))
    assert 60 - spent() <= retry_after <= 60


def test_the_window_frees_by_the_shared_clock(settings, client):
    throttle_rate(settings, "2/s")
    with _web_process():
        assert [client.get(ME).status_code for _ in range(2)] == [200] * 2
    with _web_process(-AHEAD):
        assert throttled(client.get(ME)) == 1
        time.sleep(1.1)
        assert client.get(ME).status_code == 200
