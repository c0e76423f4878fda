"""The failover runner over real sandbox adapters and small fake operations."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integrations.breaker import breaker_for, breaker_mode_set
from integrations.errors import NotProcessed, Rejected, Unknown
from integrations.failover import (
    Attempt,
    FailoverRejected,
    FailoverUnknown,
    NoProviderAvailable,
    run_with_failover,
)
from integrations.models import ProviderAccount, ProviderCall
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db


def _sandbox(slug: str, priority: int, **settings) -> ProviderAccount:
    return ProviderAccountFactory(slug=slug, priority=priority, settings=settings)


def _charge(adapter) -> str:
    """A sandbox operation: the account's injected behaviour, then a result."""
    adapter.simulate_call()
    return f"charged at {adapter.account.slug}"


class Recorder:
    """A fake operation that fails per account as scripted and logs calls."""

    def __init__(self, **errors: Exception) -> None:
        self.errors = errors
        self.called: list[str] = []

    def __call__(self, adapter) -> str:
        slug = adapter.account.slug
        self.called.append(slug)
        if slug in self.errors:
            raise self.errors[slug]
        return slug


def test_first_account_serves_when_healthy():
    _sandbox("primary", 10)
    _sandbox("secondary", 20)
    run = run_with_failover("payments", _charge, operation_name="charge")
    assert run.result == "charged at primary"
    assert run.account.slug == "primary"
    assert run.attempts == [Attempt("primary", "succeeded", "", "")]


def test_outage_moves_on_to_the_next_account():
    _sandbox("primary", 10, outage=True)
    _sandbox("secondary", 20)
    run = run_with_failover("payments", _charge, operation_name="charge")
    assert run.result == "charged at secondary"
    assert run.attempts == [
        (
            "primary",
            "not_processed",
            "connection_refused",
            "sandbox outage (simulated)",
        ),
        ("secondary", "succeeded", "", ""),
    ]


def test_disabled_accounts_and_other_kinds_are_not_tried():
    ProviderAccountFactory(slug="off", priority=1, enabled=False)
    ProviderAccountFactory(slug="ship", priority=2, kind="shipping")
    _sandbox("on", 30)
    op = Recorder()
    run = run_with_failover("payments", op, operation_name="charge")
    assert op.called == ["on"]
    assert [a.account for a in run.attempts] == ["on"]


def test_open_breaker_is_skipped_without_a_call():
    primary = _sandbox("primary", 10)
    _sandbox("secondary", 20)
    breaker = breaker_for(primary)
    for _ in range(primary_threshold()):
        breaker.record_failure(NotProcessed("refused", code="connection_refused"))
    assert breaker.is_open()
    op = Recorder()
    run = run_with_failover("payments", op, operation_name="charge")
    assert op.called == ["secondary"]
    assert run.attempts[0] == (
        "primary",
        "not_processed",
        "breaker_open",
        "circuit breaker open; skipped",
    )


def primary_threshold() -> int:
    from django.conf import settings

    return settings.BREAKER_CONSECUTIVE_FAILURES


def test_forced_open_account_is_skipped():
    primary = _sandbox("primary", 10)
    _sandbox("secondary", 20)
    breaker_mode_set(account=primary, mode="forced_open", actor="staff")
    op = Recorder()
    assert run_with_failover("payments", op, operation_name="charge").result == (
        "secondary"
    )
    assert op.called == ["secondary"]


def test_unknown_stops_the_run():
    _sandbox("primary", 10, error_rate=1.0)  # every call a simulated 500
    _sandbox("secondary", 20)
    with pytest.raises(FailoverUnknown) as info:
        run_with_failover("payments", _charge, operation_name="charge")
    error = info.value
    assert isinstance(error, Unknown)
    assert error.outcome == "unknown"
    assert error.code == "server_error"
    assert error.http_status == 500
    assert [tuple(a)[:3] for a in error.attempts] == [
        ("primary", "unknown", "server_error")
    ]


def test_unknown_after_a_failover_keeps_every_attempt():
    op = Recorder(
        a=NotProcessed("refused", code="connection_refused"),
        b=Unknown("read timeout", code="read_timeout"),
    )
    for n, slug in enumerate("abc"):
        _sandbox(slug, n)
    with pytest.raises(FailoverUnknown) as info:
        run_with_failover("payments", op, operation_name="capture")
    assert op.called == ["a", "b"]  # never c: b may have captured
    assert [a.outcome for a in info.value.attempts] == ["not_processed", "unknown"]
    assert isinstance(info.value.cause, Unknown)


def test_rejected_stops_the_run_with_the_reason():
    _sandbox("a", 1)
    _sandbox("b", 2)
    op = Recorder(a=Rejected("card declined", code="card_declined", http_status=402))
    with pytest.raises(FailoverRejected) as info:
        run_with_failover("payments", op, operation_name="charge")
    assert isinstance(info.value, Rejected)
    assert (info.value.code, info.value.message) == ("card_declined", "card declined")
    assert op.called == ["a"]
    assert info.value.attempts == [("a", "rejected", "card_declined", "card declined")]


def test_all_not_processed_is_no_provider_available():
    _sandbox("a", 1, outage=True)
    _sandbox("b", 2, outage=True)
    with pytest.raises(NoProviderAvailable) as info:
        run_with_failover("payments", _charge, operation_name="charge")
    assert isinstance(info.value, NotProcessed)
    assert info.value.code == "no_provider_available"
    assert [a.account for a in info.value.attempts] == ["a", "b"]


def test_no_enabled_account_is_no_provider_available():
    with pytest.raises(NoProviderAvailable) as info:
        run_with_failover("email", _charge, operation_name="send")
    assert info.value.attempts == []


def test_priority_change_applies_to_the_next_run():
    _sandbox("a", 10)
    _sandbox("b", 20)
    assert run_with_failover("payments", _charge, operation_name="c").account.slug == (
        "a"
    )
    ProviderAccount.objects.filter(slug="b").update(priority=5)  # staff's edit
    assert run_with_failover("payments", _charge, operation_name="c").account.slug == (
        "b"
    )


def test_misconfigured_account_does_not_block_the_others():
    ProviderAccountFactory(slug="typo", priority=1, provider="nosuchprovider")
    _sandbox("good", 2)
    run = run_with_failover("payments", _charge, operation_name="charge")
    assert run.account.slug == "good"
    assert run.attempts[0][:3] == ("typo", "not_processed", "configuration_error")


def test_bad_credentials_fail_over_as_not_processed():
    ProviderAccountFactory(slug="badkey", priority=1, credentials={"api_key": "nope"})
    _sandbox("good", 2)
    run = run_with_failover("payments", _charge, operation_name="charge")
    assert run.attempts[0][:3] == ("badkey", "not_processed", "authentication_failed")
    assert run.account.slug == "good"


def test_a_bug_in_the_operation_is_not_swallowed():
    _sandbox("a", 1)
    _sandbox("b", 2)
    op = Recorder(a=KeyError("amount"))
    with pytest.raises(KeyError):
        run_with_failover("payments", op, operation_name="charge")
    assert op.called == ["a"]


def test_an_unreachable_primary_is_left_after_one_attempt(settings):
    settings.PROVIDER_MAX_ATTEMPTS = 3
    settings.PROVIDER_BACKOFF_BASE_SECONDS = 0.001
    primary = _sandbox("primary", 10, outage=True)
    secondary = _sandbox("secondary", 20, outage=True)

    with pytest.raises(NoProviderAvailable):
        run_with_failover(
            "payments", lambda a: a.health_check(), operation_name="health"
        )

    # Back-off against a host that is down only delays the next account;
    # the last account has no one to hand over to, so it keeps its retries.
    calls = ProviderCall.objects.order_by("pk")
    assert [(c.account_id, c.attempts) for c in calls] == [
        (primary.pk, 1),
        (secondary.pk, 3),
    ]


def test_given_accounts_are_the_candidates_and_are_not_read_again():
    _sandbox("primary", 10)
    secondary = _sandbox("secondary", 20)
    op = Recorder()

    # Read a moment ago by the caller (one batch chunk): not read here.
    with CaptureQueriesContext(connection) as captured:
        run = run_with_failover(
            "payments", op, operation_name="charge", accounts=[secondary]
        )

    table = f'FROM "{ProviderAccount._meta.db_table}"'
    assert not [q for q in captured.captured_queries if table in q["sql"]]
    assert op.called == ["secondary"]
    assert run.account == secondary


def test_an_unreachable_primary_keeps_its_retries_when_no_later_account_is_usable(
    settings,
):
    settings.PROVIDER_MAX_ATTEMPTS = 3
    settings.PROVIDER_BACKOFF_BASE_SECONDS = 0.001
    primary = _sandbox("primary", 10, outage=True)
    secondary = _sandbox("secondary", 20)
    breaker_mode_set(account=secondary, mode="forced_open", actor="test")

    with pytest.raises(NoProviderAvailable):
        run_with_failover(
            "payments", lambda a: a.health_check(), operation_name="health"
        )

    # The secondary's breaker is open: nobody could take over, so the
    # primary was not given up on after one attempt.
    calls = ProviderCall.objects.order_by("pk")
    assert [(c.account_id, c.attempts) for c in calls] == [(primary.pk, 3)]


def test_a_remembered_open_breaker_is_read_again_before_the_skip():
    from django.core.cache import cache

    only = _sandbox("only", 10)
    breaker_mode_set(account=only, mode="forced_open", actor="test")
    assert breaker_for(only).is_open()  # this process now remembers "open"
    # Another process puts it back in service: the remembered read is stale.
    cache.set(f"brk:{{acct:{only.pk}}}:mode", "auto", None)
    recorder = Recorder()

    run = run_with_failover("payments", recorder, operation_name="charge")

    assert run.account.slug == "only" and recorder.called == ["only"]
