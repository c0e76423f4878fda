"""A command Redis keeps refusing (a wrong password after a deploy, a full
Redis) pages once: one ERROR per kind when it starts, then a reminder only
every ``REFUSED_REPEAT_SECONDS`` (minutes), not one per process every 10 s
for as long as it lasts. The message never carries the password."""

import logging

import pytest
from redis.exceptions import AuthenticationError, OutOfMemoryError

from integrations import redis_line
from integrations.redis_line import outage

PASSWORD = "s3cret-redis-pw"


@pytest.fixture(autouse=True)
def fresh_record():
    outage.forget()
    yield
    outage.forget()


def _errors(caplog) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == redis_line.logger.name and r.levelno == logging.ERROR
    ]


def test_a_refusal_that_lasts_a_minute_is_one_error(monkeypatch, caplog):
    now = [1000.0]
    monkeypatch.setattr(redis_line.time, "monotonic", lambda: now[0])
    wrong = AuthenticationError("invalid username-password pair or user is disabled.")
    for _ in range(60):  # a call a second for a minute
        outage.failed(wrong)
        outage.failed(OutOfMemoryError("command not allowed when used memory"))
        now[0] += 1.0
    errors = _errors(caplog)
    assert len(errors) == 2, [r.getMessage() for r in errors]  # one per kind
    assert PASSWORD not in caplog.text
    outage.check()  # never a pause: Redis answered


def test_a_refusal_still_there_later_is_reminded(monkeypatch, caplog):
    now = [1000.0]
    monkeypatch.setattr(redis_line.time, "monotonic", lambda: now[0])
    outage.failed(OutOfMemoryError("command not allowed when used memory"))
    now[0] += redis_line.REFUSED_REPEAT_SECONDS + 1
    outage.failed(OutOfMemoryError("command not allowed when used memory"))
    assert len(_errors(caplog)) == 2
