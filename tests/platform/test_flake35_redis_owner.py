"""Two test runs on one Redis database flush each other's state mid-test
(the breaker clock tests and the multi-process probe race failed at random,
several at once): a run refuses to start on a database another run holds."""

from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from django.conf import settings

from tests.redis_owner import NAME, owned_database

pytestmark = pytest.mark.redis

ANOTHER_RUN = f"{NAME}:999999"


def _connection(url: str, name: str) -> redis.Redis:
    client = redis.Redis.from_url(url, single_connection_client=True, client_name=name)
    client.ping()  # connected and named before the test looks
    return client


def _another_database(url: str) -> str:
    parts = urlsplit(url)
    db = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(db + 8) % 16}"))


def test_a_run_on_a_database_another_run_holds_refuses_to_start():
    other = _connection(settings.REDIS_URL, ANOTHER_RUN)
    try:
        with (
            pytest.raises(pytest.fail.Exception) as info,
            owned_database(settings.REDIS_URL),
        ):
            pass
    finally:
        other.close()
    assert "in use by another test run (pid 999999)" in str(info.value)
    assert "its own REDIS_URL database" in str(info.value)


def test_this_runs_own_hold_and_another_database_do_not_count():
    # This process holds its database already (the session's fixture).
    with owned_database(settings.REDIS_URL):
        pass
    elsewhere = _connection(_another_database(settings.REDIS_URL), ANOTHER_RUN)
    try:
        with owned_database(settings.REDIS_URL):
            pass
    finally:
        elsewhere.close()
