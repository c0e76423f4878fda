"""Each xdist worker its own Redis database, whichever way REDIS_URL names
the database: redis-py takes a ``?db=`` parameter over the path, and a unix
socket has only the parameter. Two workers on one database flush each
other's state, and the Redis owner check fails one's every test."""

import pytest
from redis.connection import parse_url

from tests.settings import _worker_redis_url


@pytest.mark.parametrize(
    ("url", "db"),
    [
        ("redis://127.0.0.1:6379/4", 5),
        ("redis://127.0.0.1:6379/?db=8", 9),
        ("redis://127.0.0.1:6379/2?db=15", 0),
        ("unix:///run/redis.sock?db=8", 9),
        ("unix:///run/redis.sock", 1),
    ],
)
def test_worker_gw1_takes_the_next_database(url, db):
    assert parse_url(_worker_redis_url(url, "gw1")).get("db", 0) == db
