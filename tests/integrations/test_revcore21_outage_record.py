"""``redis_line.outage`` shared by a process's threads: two requests that
time out together are one outage, logged once, not once per thread; and a
fork (django-q's workers) keeps a lock free for the child."""

import contextlib
import logging
import os
import threading

import pytest
from redis.exceptions import TimeoutError as RedisTimeoutError

from integrations import redis_line


def test_two_threads_failing_together_log_one_warning(monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger=redis_line.logger.name)
    record = redis_line.RedisOutage()
    # Both threads reach the clock read together, as they would after
    # timing out on the same dropped Redis.
    meet = threading.Barrier(2)
    real = redis_line.time.monotonic

    def together() -> float:
        # Broken: one thread at a time, the other holds the record.
        with contextlib.suppress(threading.BrokenBarrierError):
            meet.wait(timeout=0.5)
        return real()

    monkeypatch.setattr(redis_line.time, "monotonic", together)
    threads = [
        threading.Thread(target=record.failed, args=(RedisTimeoutError("t"),))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    warnings = [
        r
        for r in caplog.records
        if r.name == redis_line.logger.name and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 1, warnings


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_a_forked_child_can_record_an_outage():
    record = redis_line.outage
    pid = os.fork()
    if pid == 0:  # the child: record and report by exit code, never raise
        code = 1
        try:
            record.failed(RedisTimeoutError("child"))
            record.answered()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
