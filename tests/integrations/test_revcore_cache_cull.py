"""The database cache of the fallback without Redis (settings.CACHES when
REDIS_URL is empty) holds cache_lock's locks, the limiter's buckets and
slots, the breaker's state and claims. Django's DatabaseCache culls a share
of the live rows in key order once the table passes MAX_ENTRIES (300 by
default): a held lock dropped is two holders, a bucket dropped a full burst.
Its cull may only delete rows that have expired, by the database's clock."""

import contextlib
import runpy
import time
from collections.abc import Iterator
from datetime import timedelta
from unittest import mock

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from config.env import BASE_DIR
from integrations.ratelimit import cache_lock
from integrations.testing.clocks import whole_machine_clock

pytestmark = pytest.mark.django_db

ROWS = 20  # a small MAX_ENTRIES: the cull runs on the next write past it
_REAL_TIME = time.time
_held: list = []


def _fallback_caches(monkeypatch) -> dict:
    """settings.CACHES as config/settings.py builds it without Redis."""
    monkeypatch.setenv("REDIS_URL", "")
    return runpy.run_path(str(BASE_DIR / "config" / "settings.py"))["CACHES"]


@pytest.fixture(autouse=True)
def fallback_cache(settings, monkeypatch) -> Iterator[dict]:
    caches = _fallback_caches(monkeypatch)
    default = dict(caches["default"])
    default["OPTIONS"] = {**default.get("OPTIONS", {}), "MAX_ENTRIES": ROWS}
    settings.CACHES = {"default": default}
    call_command("createcachetable", verbosity=0)
    cache.clear()  # rows a transactional test elsewhere left
    yield caches
    _held.clear()


def _hold(key: str, ttl: float = 60) -> None:
    lock = cache_lock(key, wait=0, ttl=ttl)
    assert lock.__enter__() is True
    _held.append(lock)  # referenced: a collected context would release it


def _taken_by_another(key: str) -> bool:
    with cache_lock(key, wait=0, ttl=60) as acquired:
        return acquired


def _rows() -> set[str]:
    table = connection.ops.quote_name("switchyard_cache")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT cache_key FROM {table}")  # noqa: S608
        return {key.rsplit(":", 1)[-1] for (key,) in cursor.fetchall()}


def test_a_full_table_never_culls_a_held_lock_or_a_bucket():
    _hold("a-lock")
    cache.set("a-bucket", {"tokens": 1.0}, None)
    for n in range(ROWS * 3):
        cache.set(f"z-entry-{n}", n)

    assert not _taken_by_another("a-lock")
    assert cache.get("a-bucket") == {"tokens": 1.0}
    assert {f"z-entry-{n}" for n in range(ROWS * 3)} <= _rows()


def test_a_full_table_still_sheds_its_expired_rows():
    for n in range(ROWS):
        cache.set(f"old-{n}", n)
    past = connection.ops.adapt_datetimefield_value(
        timezone.now() - timedelta(minutes=5)
    )
    table = connection.ops.quote_name("switchyard_cache")
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET expires = %s WHERE cache_key LIKE %s",  # noqa: S608
            [past, "%:old-%"],
        )
    for n in range(ROWS // 2):
        cache.set(f"new-{n}", n)

    rows = _rows()
    assert not any(key.startswith("old-") for key in rows)
    assert {f"new-{n}" for n in range(ROWS // 2)} <= rows


def test_the_fallback_cache_sweeps_rarely_enough(fallback_cache):
    # The cull (a COUNT and a DELETE) runs on writes past MAX_ENTRIES; the
    # fallback keeps thousands of live rows (breaker counters, histories).
    assert fallback_cache["default"]["OPTIONS"]["MAX_ENTRIES"] >= 10_000


@contextlib.contextmanager
def _machine_ahead(seconds: float) -> Iterator[None]:
    skewed = lambda: _REAL_TIME() + seconds  # noqa: E731
    with whole_machine_clock(seconds), mock.patch("time.time", skewed):
        yield


@pytest.mark.postgres
def test_a_writer_whose_clock_runs_ahead_culls_no_live_lock():
    # Last in key order: only a cull by the writer's clock could drop it.
    _hold("zz-lock", ttl=60)
    with _machine_ahead(600):
        for n in range(ROWS * 2):
            cache.set(f"z-entry-{n}", n, 3600)

    assert "zz-lock" in _rows()
    assert not _taken_by_another("zz-lock")
