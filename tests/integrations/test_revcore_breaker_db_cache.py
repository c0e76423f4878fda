"""The breaker's entries on the database-cache fallback (no Redis): the
transition lock, the half-open probe claim and the window counters expire by
the database's clock, as cache_lock's locks do, and a count is one atomic
step, as COUNT_LUA is on Redis: a process whose clock runs ahead cannot take
a claim another holds, the consecutive-failure streak ends after the window
as Redis's does, and concurrent failures are all counted."""

import contextlib
import threading
import time
from collections.abc import Iterator
from unittest import mock

import pytest
from django.core.cache import cache
from django.db import connection

from integrations.breaker.store import BreakerStore
from integrations.testing.clocks import shared_by_machines, whole_machine_clock
from tests.integrations.skewed_clocks import AHEAD, use_database_cache

pytestmark = pytest.mark.django_db(transaction=True)

_REAL_TIME = time.time


@pytest.fixture(autouse=True)
def database_cache(settings) -> None:
    use_database_cache(settings)
    # The table is no model's: a transactional test's flush leaves its rows.
    cache.clear()


@contextlib.contextmanager
def _machine(skew: float) -> Iterator[None]:
    """A process on a machine whose clock is ``skew`` seconds off."""
    if skew and not shared_by_machines():
        pytest.skip("needs service: clocks differ only with a server database")
    skewed = lambda: _REAL_TIME() + skew  # noqa: E731
    with whole_machine_clock(skew), mock.patch("time.time", skewed):
        yield


def _store(window: float = 60, buckets: int = 6) -> BreakerStore:
    return BreakerStore(7, window_seconds=window, buckets=buckets)


@pytest.mark.postgres
def test_a_process_ahead_cannot_take_a_held_transition_lock():
    with _machine(0.0):
        assert _store().lock_transition(3)
    with _machine(AHEAD):
        assert not _store().lock_transition(3)


@pytest.mark.postgres
def test_a_process_ahead_cannot_take_a_held_probe_claim():
    with _machine(0.0):
        assert _store().claim("probe:1:0", 31)
    with _machine(AHEAD):
        assert not _store().claim("probe:1:0", 31)


@pytest.mark.postgres
def test_a_process_on_time_cannot_take_a_claim_held_behind():
    with _machine(-AHEAD):
        assert _store().claim("probe:1:0", 31)
    with _machine(0.0):
        assert not _store().claim("probe:1:0", 31)


def test_a_probe_claim_frees_after_its_ttl():
    store = _store()
    assert store.claim("probe:1:0", 1)
    assert not store.claim("probe:1:0", 1)
    time.sleep(2.1)
    assert store.claim("probe:1:0", 1)


def test_the_failure_streak_ends_after_the_window_as_on_redis():
    # Window 1 s in one bucket: every count lives ceil(2 s), renewed by each.
    store = _store(window=1, buckets=1)
    assert store.count(time.time(), failed=True)[0] == 1
    assert store.count(time.time(), failed=True)[0] == 2
    time.sleep(2.5)
    assert store.count(time.time(), failed=True)[0] == 1


@pytest.mark.postgres
def test_concurrent_failures_are_all_counted():
    threads, start = 8, threading.Barrier(8)
    results: list[tuple[int, int, int]] = []
    errors: list[BaseException] = []
    now = time.time()

    def fail() -> None:
        try:
            start.wait()
            results.append(_store().count(now, failed=True))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=fail) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors
    assert sorted(consec for consec, _, _ in results) == list(range(1, threads + 1))
    assert max(calls for _, calls, _ in results) == threads
    assert max(fails for _, _, fails in results) == threads
