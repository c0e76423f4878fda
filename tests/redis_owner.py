"""One test run per Redis database. Every test flushes its database
(``_fresh_cache``), so two runs given the same REDIS_URL database wipe each
other's breaker states, probe claims and barrier counts half-way through a
test: several tests fail at once, at random, and only while the other run
lasts. A run holds its database by a named connection kept open for the
session (closed with the process, however it ends); a run that finds
another's connection on its database refuses to start, saying why."""

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis
from redis.exceptions import RedisError

NAME = "switchyard-tests"


@contextmanager
def owned_database(url: str) -> Iterator[None]:
    """Hold the Redis database of ``url`` for this run, or fail every test
    of the run while another run holds it. Nothing when Redis cannot be
    reached: the tests that need it say so themselves."""
    mine = f"{NAME}:{os.getpid()}"
    client = None
    try:
        # The client connects as it is made (a single connection).
        client = redis.Redis.from_url(
            url, single_connection_client=True, client_name=mine
        )
        others = _other_runs(client, mine)
    except RedisError:
        others = None
    try:
        if others:
            db = client.connection_pool.connection_kwargs.get("db", 0)
            pytest.fail(
                f"Redis database {db} is in use by another test run (pid "
                f"{', '.join(others)}): every test flushes it, so both runs would"
                " fail at random; give each run its own REDIS_URL database"
                " (with -n N, workers take that database + 0..N-1)",
                pytrace=False,
            )
        yield
    finally:
        if client is not None:
            client.close()


def _other_runs(client: redis.Redis, mine: str) -> list[str]:
    """The pids of the other runs' connections on this database (this
    process's own, a test's second look included, are not another run)."""
    client.ping()  # connects, and names the connection
    db = client.connection_pool.connection_kwargs.get("db", 0)
    return [
        entry["name"].removeprefix(f"{NAME}:")
        for entry in client.client_list()
        if entry.get("name", "").startswith(f"{NAME}:")
        and entry["name"] != mine
        and int(entry.get("db", -1)) == int(db)
    ]
