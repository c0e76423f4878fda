"""run_on_accounts with plain operations: results, failures and their
reasons, skipped breakers, and what travels into the threads."""

import logging
import threading
import time

import pytest
from django.db import connections

from integrations import correlation, deadline
from integrations.breaker import breaker_for, breaker_mode_set
from integrations.errors import NotProcessed, Rejected, Unknown
from integrations.fanout import (
    AccountFailure,
    FailureReason,
    run_on_accounts,
)
from integrations.models import ProviderAccount
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db


def _account(slug: str, priority: int, **kwargs) -> ProviderAccount:
    return ProviderAccountFactory(slug=slug, priority=priority, **kwargs)


class Recorder:
    """An operation that fails per account as scripted and records, per
    account, what the thread it ran in saw."""

    def __init__(self, **errors: Exception) -> None:
        self.errors = errors
        self.seen: dict[str, dict] = {}
        self.lock = threading.Lock()

    def __call__(self, adapter) -> str:
        slug = adapter.account.slug
        with self.lock:
            self.seen[slug] = {
                "thread": threading.current_thread(),
                "correlation_id": correlation.get(),
                "remaining": deadline.remaining(),
            }
        if slug in self.errors:
            raise self.errors[slug]
        return f"quote from {slug}"


def _run(op, **kwargs):
    kwargs.setdefault("deadline_seconds", 2.0)
    return run_on_accounts("payments", op, operation_name="quote", **kwargs)


def test_every_enabled_account_answers_in_priority_order():
    _account("b", 20)
    _account("a", 10)
    _account("off", 5, enabled=False)
    _account("ship", 1, kind="shipping")
    op = Recorder()
    run = _run(op)
    assert [r.account for r in run.results] == ["a", "b"]
    assert [r.result for r in run.results] == ["quote from a", "quote from b"]
    assert run.results[0].account_id == ProviderAccount.objects.get(slug="a").pk
    assert run.failures == ()
    assert sorted(op.seen) == ["a", "b"]
    threads = {seen["thread"] for seen in op.seen.values()}
    assert len(threads) == 2
    assert threading.current_thread() not in threads


def test_a_given_list_is_used_as_given():
    a = _account("a", 10)
    b = _account("b", 20, enabled=False)
    _account("c", 30)
    op = Recorder()
    run = _run(op, accounts=[b, a])
    assert [r.account for r in run.results] == ["b", "a"]
    assert sorted(op.seen) == ["a", "b"]


def test_a_given_account_of_another_kind_is_refused():
    other = _account("ship", 1, kind="shipping")
    with pytest.raises(ValueError, match="kind"):
        _run(Recorder(), accounts=[other])


def test_deadline_must_be_positive():
    with pytest.raises(ValueError, match="deadline"):
        _run(Recorder(), deadline_seconds=0)


def test_no_account_gives_an_empty_run():
    run = run_on_accounts(
        "email", Recorder(), operation_name="send", deadline_seconds=1
    )
    assert (run.results, run.failures) == ((), ())


def test_provider_errors_become_failures_with_their_outcome():
    for n, slug in enumerate("abcd"):
        _account(slug, n)
    op = Recorder(
        a=NotProcessed("refused", code="connection_refused"),
        b=Rejected("no service to that postcode", code="address_invalid"),
        c=Unknown("HTTP 500", code="server_error", http_status=500),
    )
    run = _run(op)
    assert [r.account for r in run.results] == ["d"]
    assert [
        (f.account, f.outcome, f.code, f.message, f.reason) for f in run.failures
    ] == [
        ("a", "not_processed", "connection_refused", "refused", "error"),
        ("b", "rejected", "address_invalid", "no service to that postcode", "error"),
        ("c", "unknown", "server_error", "HTTP 500", "error"),
    ]


def test_provider_timeouts_have_reason_timeout():
    _account("a", 1)
    _account("b", 2)
    op = Recorder(
        a=Unknown("provider did not answer in time", code="read_timeout"),
        b=NotProcessed("deadline passed", code="deadline_exceeded"),
    )
    run = _run(op)
    assert [(f.account, f.reason) for f in run.failures] == [
        ("a", FailureReason.TIMEOUT),
        ("b", FailureReason.TIMEOUT),
    ]


def test_a_bug_becomes_a_generic_unknown_failure_logged_with_its_traceback(caplog):
    _account("buggy", 1)
    _account("fine", 2)
    op = Recorder(buggy=KeyError("sk_live_secret"))
    with caplog.at_level(logging.ERROR, logger="integrations.fanout"):
        run = _run(op)
    assert [r.account for r in run.results] == ["fine"]
    (failure,) = run.failures
    assert (failure.outcome, failure.code, failure.reason) == (
        "unknown",
        "unexpected_error",
        "error",
    )
    assert "sk_live_secret" not in failure.message
    (record,) = [r for r in caplog.records if r.msg == "fan-out operation raised"]
    assert record.exc_info[0] is KeyError
    assert record.account == "buggy"


def test_misconfigured_account_fails_alone():
    _account("typo", 1, provider="nosuchprovider")
    _account("good", 2)
    run = _run(Recorder())
    assert [r.account for r in run.results] == ["good"]
    assert [(f.account, f.outcome, f.code) for f in run.failures] == [
        ("typo", "not_processed", "configuration_error")
    ]


def test_open_breaker_is_skipped_without_a_thread(settings):
    tripped = _account("tripped", 1)
    forced = _account("forced", 2)
    _account("fine", 3)
    breaker = breaker_for(tripped)
    for _ in range(settings.BREAKER_CONSECUTIVE_FAILURES):
        breaker.record_failure(NotProcessed("refused", code="connection_refused"))
    assert breaker.is_open()
    breaker_mode_set(account=forced, mode="forced_open", actor="staff")
    started: list[str] = []
    original_start = threading.Thread.start

    def counting_start(thread):
        started.append(thread.name)
        original_start(thread)

    op = Recorder()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(threading.Thread, "start", counting_start)
        run = _run(op)
    assert list(op.seen) == ["fine"]
    assert started == ["fanout-fine"]
    assert [r.account for r in run.results] == ["fine"]
    assert run.failures == (
        AccountFailure(
            "tripped",
            tripped.pk,
            "not_processed",
            "breaker_open",
            "circuit breaker open; skipped",
            FailureReason.BREAKER_OPEN,
        ),
        AccountFailure(
            "forced",
            forced.pk,
            "not_processed",
            "breaker_open",
            "circuit breaker open; skipped",
            FailureReason.BREAKER_OPEN,
        ),
    )


def test_a_hung_operation_cannot_hold_the_caller_past_the_deadline():
    _account("hung", 1)
    _account("quick", 2)
    release = threading.Event()

    def op(adapter):
        if adapter.account.slug == "hung":
            release.wait(10)
        return adapter.account.slug

    try:
        start = time.monotonic()
        run = _run(op, deadline_seconds=1.0)
        elapsed = time.monotonic() - start
    finally:
        release.set()
    # Held to the deadline, with room for a loaded machine; not the 10 s.
    assert 1.0 <= elapsed < 1.0 * 3
    assert [r.account for r in run.results] == ["quick"]
    (failure,) = run.failures
    assert (failure.account, failure.outcome, failure.code, failure.reason) == (
        "hung",
        "unknown",
        "deadline_exceeded",
        "timeout",
    )


def test_the_run_returns_as_soon_as_every_account_answered():
    _account("a", 1)
    _account("b", 2)
    start = time.monotonic()
    _run(Recorder(), deadline_seconds=30)
    # Far below the deadline it would otherwise have waited for.
    assert time.monotonic() - start < 30 / 3


def test_the_correlation_id_and_deadline_travel_into_every_thread():
    for n, slug in enumerate("abc"):
        _account(slug, n)
    op = Recorder()
    with correlation.bind("req-42"):
        _run(op, deadline_seconds=1.5)
    assert {seen["correlation_id"] for seen in op.seen.values()} == {"req-42"}
    assert all(0 < seen["remaining"] <= 1.5 for seen in op.seen.values())
    assert deadline.remaining() == float("inf")  # the scope ended with the run


def test_without_a_correlation_id_the_run_gets_one_of_its_own():
    _account("a", 1)
    _account("b", 2)
    op = Recorder()
    _run(op)
    ids = {seen["correlation_id"] for seen in op.seen.values()}
    assert len(ids) == 1
    assert None not in ids
    assert correlation.get() is None


class OpensConnection:
    """An operation that queries the database from its thread and keeps that
    thread's connection wrapper and raw connection."""

    def __init__(self) -> None:
        self.opened: list = []

    def __call__(self, adapter) -> str:
        conn = connections["default"]
        ProviderAccount.objects.filter(pk=adapter.account.pk).exists()
        self.opened.append((conn, conn.connection))
        return adapter.account.slug


@pytest.mark.usefixtures("threads_db")
def test_database_connections_opened_in_threads_are_closed_there():
    for n, slug in enumerate("abc"):
        _account(slug, n)
    op = OpensConnection()
    run = _run(op)
    assert len(run.results) == 3
    assert len(op.opened) == 3
    main = connections["default"]
    assert all(conn is not main for conn, _ in op.opened)
    assert all(raw is not None for _, raw in op.opened)
    assert all(conn.connection is None for conn, _ in op.opened)


@pytest.mark.postgres
@pytest.mark.usefixtures("threads_db")
def test_threads_leave_no_postgresql_session_behind():
    for n, slug in enumerate("abc"):
        _account(slug, n)

    def sessions() -> int:
        with connections["default"].cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                "current_database()"
            )
            return cursor.fetchone()[0]

    before = sessions()
    op = OpensConnection()
    _run(op)
    assert all(raw.closed for _, raw in op.opened)
    # A backend leaves pg_stat_activity a moment after its client hung up.
    for _ in range(50):
        if sessions() == before:
            break
        time.sleep(0.02)
    assert sessions() == before
