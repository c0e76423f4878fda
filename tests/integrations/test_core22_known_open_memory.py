"""The breaker states a process keeps for a Redis outage: only open ones,
until their open period ends, for a bounded number of accounts, and a fork
(django-q's workers) leaves the child free to note its own."""

import os
import threading
import time

import pytest
from django.core.cache import cache

from integrations import cache_clock
from integrations.breaker import store as breaker_store
from integrations.breaker.store import BreakerStore


@pytest.fixture
def local_cache(settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    }
    cache.clear()
    # Redis's time as if learnt from a reply: here this host's.
    cache_clock.learn_redis_time([int(time.time()), 0])
    breaker_store.forget_recent()
    yield
    breaker_store.forget_recent()


def _store(pk: int) -> BreakerStore:
    return BreakerStore(pk, window_seconds=60, buckets=6)


def _open(pk: int, for_seconds: float) -> None:
    now = time.time()
    _store(pk).save_record(
        {
            "state": "open",
            "gen": 1,
            "opened_until": now + for_seconds,
            "last_state": "open",
            "at": now,
            "reason": "test",
        }
    )


def test_an_open_state_is_kept_until_its_open_period_ends(local_cache):
    _open(1, 30)
    _open(2, -1)  # its open period already over
    assert 25 < _store(1).known_open() <= 31
    assert _store(2).known_open() is None


def test_a_closed_state_read_or_saved_forgets_it(local_cache):
    _open(1, 30)
    _store(1).save_record({"state": "closed", "gen": 2, "opened_until": None})
    assert _store(1).known_open() is None


def test_a_success_forgets_it_a_failed_try_holds_it_again(local_cache):
    _open(1, -1)
    _store(1).note_outcome(True, 40)  # the try after the open period failed
    assert 35 < _store(1).known_open() <= 40
    _store(1).note_outcome(False, 40)
    assert _store(1).known_open() is None


def test_the_kept_states_are_bounded(local_cache):
    count = breaker_store._KNOWN_OPEN_MAX + 5
    for pk in range(1, count + 1):
        _open(pk, 30)
    assert len(breaker_store._known_open) == breaker_store._KNOWN_OPEN_MAX
    assert _store(1).known_open() is None  # the oldest went first
    assert _store(count).known_open() is not None


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_a_forked_child_can_note_a_state(local_cache):
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with breaker_store._known_open_lock:
            held.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    try:
        pid = os.fork()
        if pid == 0:  # the child: note and report by exit code, never raise
            code = 1
            try:
                _open(7, 30)
                code = 0 if _store(7).known_open() else 2
            finally:
                os._exit(code)
    finally:
        release.set()
        holder.join(5)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
