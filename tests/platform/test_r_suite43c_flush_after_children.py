"""The per-test Redis flush (tests/conftest.py ``_fresh_cache``) is skipped
when nothing can have written since the last one. A write this process's
redis-py never sent, a forked child's, must still be flushed before the next
test: below, a child writes in one test that sends nothing itself, and the
test after the child is reaped (same file, run in order) finds it empty."""

import os
import time

import pytest
import redis
from django.conf import settings

pytestmark = pytest.mark.redis

KEY = "r-suite43c:written-by-a-child"
LINGERING: list[int] = []  # the pid a test leaves running for the next
UNREAPED: list[int] = []  # the pid a test leaves unreaped for the next


def _child_writes(then_lingers: bool) -> int:
    """Fork a child that sets KEY (a client of its own) and exits; the pid."""
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            if then_lingers:
                time.sleep(0.2)  # still running when the parent's test ends
            redis.Redis.from_url(settings.REDIS_URL).set(KEY, "1")
            status = 0
        finally:
            os._exit(status)
    return pid


def _found() -> bool:
    return bool(redis.Redis.from_url(settings.REDIS_URL).exists(KEY))


def test_a_reaped_child_writes():
    pid = _child_writes(then_lingers=False)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_the_reaped_childs_write_is_flushed():
    assert not _found()


def test_a_child_still_running_at_the_end_writes():
    LINGERING.append(_child_writes(then_lingers=True))


def test_the_lingering_child_is_reaped_here():
    # Alive (or a zombie) at this set-up: its write came after this flush.
    for pid in LINGERING:
        os.waitpid(pid, 0)
    LINGERING.clear()


def test_the_lingering_childs_write_is_flushed():
    assert not _found()


def test_a_child_left_unreaped_writes():
    # The child says when its write is done (a pipe), then exits: a zombie
    # at the next set-up, its CPU times not yet counted as a reaped child's.
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.close(done_r)
            redis.Redis.from_url(settings.REDIS_URL).set(KEY, "1")
            os.write(done_w, b"x")
            status = 0
        finally:
            os._exit(status)
    os.close(done_w)
    assert os.read(done_r, 1) == b"x"
    os.close(done_r)
    UNREAPED.append(pid)


def test_the_unreaped_childs_write_is_flushed():
    try:
        assert not _found()
    finally:
        for pid in UNREAPED:
            os.waitpid(pid, 0)
        UNREAPED.clear()
