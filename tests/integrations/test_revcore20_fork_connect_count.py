"""Workers fork (gunicorn, django-q) at any moment of the parent's threads:
one that forks while another thread counts a Redis connect must still be
able to count its own (a lock copied held would hang the child's first
Redis command forever)."""

import os
import time

import pytest
import redis
from django.conf import settings

from integrations import redis_line
from integrations.redis_line import RedisLine, line_connects

pytestmark = pytest.mark.redis


def _exit_status(pid: int, wait: float) -> int | None:
    give_up = time.monotonic() + wait
    while time.monotonic() < give_up:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return None


def test_a_child_forked_mid_count_counts_its_connects():
    # Another thread of the parent is counting a connect as the fork happens.
    with redis_line._connects_lock:
        pid = os.fork()
        if pid == 0:  # the child
            status = 1
            try:
                before = line_connects()
                line = RedisLine(redis.Redis.from_url(settings.REDIS_URL))
                assert line.command("PING")
                status = 0 if line_connects() > before else 2
            finally:
                os._exit(status)
    assert _exit_status(pid, wait=10) == 0
