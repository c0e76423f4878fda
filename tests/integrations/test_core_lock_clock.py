"""``cache_lock`` on the database-cache fallback (no Redis) between processes
whose clocks disagree: a lock expires by the database's clock, as the bucket
and the leases it guards do, so a process ahead cannot take a lock that is
still held, nor one behind wait an hour for the lock of a holder that died."""

import contextlib
import time
from collections.abc import Iterator
from unittest import mock

import pytest

from integrations.ratelimit import cache_lock
from integrations.testing.clocks import shared_by_machines, whole_machine_clock
from tests.integrations.skewed_clocks import AHEAD, use_database_cache

pytestmark = pytest.mark.django_db

KEY = "core:test-lock"
_REAL_TIME = time.time
# Locks taken by holders that "die": kept referenced, since a context manager
# collected as garbage would release its lock.
_held: list = []


@pytest.fixture(autouse=True)
def database_cache(settings) -> Iterator[None]:
    use_database_cache(settings)
    yield
    _held.clear()


@contextlib.contextmanager
def _machine(skew: float) -> Iterator[None]:
    """Run as a process on a machine whose clock is ``skew`` seconds off
    (every reading: the cache's own timeouts use ``time.time``)."""
    if skew and not shared_by_machines():
        pytest.skip("needs service: clocks differ only with a server database")
    skewed = lambda: _REAL_TIME() + skew  # noqa: E731
    with whole_machine_clock(skew), mock.patch("time.time", skewed):
        yield


def _take(skew: float, *, ttl: float = 5, wait: float = 0):
    """Take the lock on a machine ``skew`` seconds off and keep it (a holder
    that dies before releasing); returns the lock's context, or None."""
    with _machine(skew):
        lock = cache_lock(KEY, wait=wait, ttl=ttl)
        if not lock.__enter__():
            return None
        _held.append(lock)
        return lock


def _free(skew: float = 0.0, *, wait: float = 0) -> bool:
    with _machine(skew), cache_lock(KEY, wait=wait) as taken:
        return taken


def test_a_process_ahead_cannot_take_a_held_lock():
    assert _take(0.0)
    assert not _free(AHEAD)


def test_a_process_on_time_cannot_take_a_lock_held_behind():
    assert _take(-AHEAD)
    assert not _free(0.0)


def test_a_dead_holder_ahead_frees_the_lock_after_its_ttl():
    assert _take(AHEAD, ttl=1)
    assert not _free(0.0)
    started = time.monotonic()
    assert _free(0.0, wait=10)
    # Its 1 s TTL, with room for a loaded machine; not the hour it is ahead.
    assert time.monotonic() - started < 1 * 3


def test_a_lock_expires_after_its_ttl_and_a_late_release_keeps_the_next():
    first = _take(0.0, ttl=1)
    assert first
    time.sleep(1.1)
    assert _take(0.0, ttl=5)  # the first lock expired: taken again
    first.__exit__(None, None, None)
    assert not _free(0.0)


def test_a_released_lock_is_free_at_once():
    with _machine(0.0), cache_lock(KEY, wait=0) as taken:
        assert taken
        assert not _free(0.0)
    assert _free(0.0)
