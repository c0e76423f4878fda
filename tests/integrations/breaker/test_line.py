"""The shared Redis line of breaker and limiter: success counts sent without
waiting for their reply, yet counted exactly and in order."""

import logging
import os

import pytest
from django.core.cache import cache

from integrations.breaker import breaker_for
from integrations.errors import NotProcessed
from integrations.redis_line import redis_handle

pytestmark = [pytest.mark.redis, pytest.mark.django_db]


def _fail(breaker):
    breaker.record_failure(NotProcessed("refused", code="connection_refused"))


def test_unanswered_success_counts_are_counted_before_the_next_decision(account, clock):
    breaker = breaker_for(account, clock=clock)
    line = redis_handle().line
    breaker.record_success()
    assert line.pending
    breaker.record_success()
    _fail(breaker)
    assert breaker.snapshot().state == "closed"

    # 2 of 4 calls failed: the rate threshold (0.5, min 4 calls) is reached
    # only if both successes were counted.
    _fail(breaker)

    snap = breaker.snapshot()
    assert snap.state == "open"
    assert "2 of 4 calls failed" in snap.last_reason


def test_a_success_resets_the_consecutive_failures(account, clock):
    # Only the run of consecutive failures (3) can trip here.
    account.settings["breaker_failure_rate"] = 1.0
    breaker = breaker_for(account, clock=clock)
    _fail(breaker)
    _fail(breaker)
    breaker.record_success()
    _fail(breaker)
    _fail(breaker)
    assert breaker.snapshot().state == "closed"

    _fail(breaker)

    snap = breaker.snapshot()
    assert snap.state == "open"
    assert "3 consecutive failures" in snap.last_reason


def test_a_lost_reply_is_logged_and_the_line_reconnects(account, clock, caplog):
    breaker = breaker_for(account, clock=clock)
    line = redis_handle().line
    breaker.record_success()
    line.connection.disconnect()  # the reply will never be read

    with caplog.at_level(logging.INFO, logger="integrations.redis_line"):
        breaker.before_call()
        _fail(breaker)

    assert "unanswered redis command may be lost" in caplog.text
    assert not line.pending
    assert breaker.snapshot().state == "closed"


def test_a_stale_connection_is_reopened_once(account, clock):
    breaker = breaker_for(account, clock=clock)
    breaker.before_call()
    line = redis_handle().line
    conn = line.connection
    # The server side closes it (as a Redis restart would).
    client_id = line.command("CLIENT", "ID")
    cache._cache.get_client(write=True).client_kill_filter(_id=client_id)

    breaker.before_call()
    _fail(breaker)

    assert line.connection is conn  # the same object, connected again


def test_scripts_flushed_from_the_server_are_loaded_again(account, clock):
    breaker = breaker_for(account, clock=clock)
    breaker.record_success()
    cache._cache.get_client(write=True).script_flush()

    breaker.record_success()
    _fail(breaker)
    _fail(breaker)

    snap = breaker.snapshot()
    assert snap.state == "open"
    assert "2 of 4 calls failed" in snap.last_reason


def test_a_forked_process_opens_its_own_connection(account, clock, monkeypatch):
    breaker = breaker_for(account, clock=clock)
    breaker.record_success()
    line = redis_handle().line
    parent_conn = line.connection

    child_pid = os.getpid() + 1
    monkeypatch.setattr("integrations.redis_line.os.getpid", lambda: child_pid)
    breaker.before_call()

    assert line.connection is not parent_conn
    assert not line.pending
