"""Every breaker transition, with a hand-moved clock. Runs against whichever
cache the suite is configured with (database cache, or Redis with REDIS_URL),
so both the Lua and the generic counting paths are exercised; a test that
moves the time runs on ``shared_clock`` (the breaker goes by the store's
clock, which only a local cache lets a test move)."""

import logging
import threading

import pytest
from django.db import connection

from integrations.breaker import (
    BreakerConfig,
    BreakerState,
    breaker_for,
    breaker_mode_set,
)
from integrations.errors import ConfigurationError, NotProcessed, Rejected, Unknown
from integrations.models import Event, ProviderAccount

from .conftest import FakeClock

pytestmark = pytest.mark.django_db

REFUSED = NotProcessed("connection refused", code="connection_refused")


def _fail(breaker, times: int = 1, error=REFUSED, **kwargs) -> None:
    for _ in range(times):
        breaker.record_failure(error, **kwargs)


def _refused(breaker) -> NotProcessed:
    with pytest.raises(NotProcessed) as info:
        breaker.before_call()
    assert info.value.code == "breaker_open"
    return info.value


def _trip(breaker) -> None:
    _fail(breaker, 3)
    assert breaker.snapshot().state == BreakerState.OPEN


def _event_names() -> list[str]:
    return list(Event.objects.order_by("pk").values_list("name", flat=True))


def test_closed_breaker_lets_calls_through(account, clock):
    breaker = breaker_for(account, clock=clock)
    breaker.before_call()
    breaker.record_success()
    snap = breaker.snapshot()
    assert snap.state == BreakerState.CLOSED
    assert snap.mode == "auto"
    assert snap.last_transition_at is None
    assert not breaker.is_open()


def test_opens_on_consecutive_failures(account, clock, shared_clock):
    breaker = breaker_for(account, clock=clock)
    _fail(breaker, 2)
    breaker.before_call()  # two in a row: still closed
    _fail(breaker)
    error = _refused(breaker)
    assert error.outcome == "not_processed"
    assert error.retry_after == pytest.approx(30)
    snap = breaker.snapshot()
    assert snap.state == BreakerState.OPEN
    assert "3 consecutive failures" in snap.last_reason
    assert "connection_refused" in snap.last_reason
    assert snap.opened_until.timestamp() == pytest.approx(clock.now + 30)
    assert breaker.is_open()


def test_success_breaks_the_run_of_failures(account, clock):
    account.settings["breaker_min_calls"] = 100  # rule out the rate trigger
    breaker = breaker_for(account, clock=clock)
    for _ in range(3):
        _fail(breaker, 2)
        breaker.record_success()
    breaker.before_call()
    assert breaker.snapshot().state == BreakerState.CLOSED


def test_opens_on_failure_rate_once_min_calls_reached(account, clock):
    account.settings["breaker_consecutive_failures"] = 100
    breaker = breaker_for(account, clock=clock)
    _fail(breaker)
    breaker.record_success()
    _fail(breaker)
    breaker.before_call()  # 2 of 3 failed, but fewer than min_calls (4)
    breaker.record_success()
    assert breaker.snapshot().state == BreakerState.CLOSED
    _fail(breaker)  # 3 of 5 >= 50 %
    _refused(breaker)
    assert "3 of 5 calls failed in 60s" in breaker.snapshot().last_reason


def test_failures_outside_the_window_do_not_count(account, clock, shared_clock):
    account.settings["breaker_consecutive_failures"] = 100
    breaker = breaker_for(account, clock=clock)
    _fail(breaker, 2)
    breaker.record_success()
    clock.advance(75)  # the window is 60 s: those three calls are gone
    breaker.record_success()
    _fail(breaker)
    breaker.before_call()
    assert breaker.snapshot().state == BreakerState.CLOSED


def test_open_becomes_half_open_after_open_time(account, clock, shared_clock):
    breaker = breaker_for(account, clock=clock)
    _trip(breaker)
    clock.advance(29.9)
    _refused(breaker)
    assert breaker.is_open()
    clock.advance(0.1)
    assert breaker.snapshot().state == BreakerState.HALF_OPEN
    assert not breaker.is_open()  # failover may try it: one probe is allowed


def test_half_open_lets_exactly_one_probe_through(account, clock, shared_clock):
    breaker = breaker_for(account, clock=clock)
    _trip(breaker)
    clock.advance(30)
    breaker.before_call()  # the probe
    # Anyone else -- another instance, thread or process -- is refused: the
    # claim lives in the cache (threads: see test_one_probe_among_many_threads).
    other = breaker_for(ProviderAccount.objects.get(pk=account.pk), clock=clock)
    _refused(other)
    _refused(breaker)
    snap = breaker.snapshot()
    assert snap.last_state == "half_open"
    assert "one probe sent" in snap.last_reason


def test_probe_success_closes_with_clean_counters(account, clock, shared_clock):
    breaker = breaker_for(account, clock=clock)
    _trip(breaker)
    clock.advance(30)
    breaker.before_call()
    breaker.record_success()
    snap = breaker.snapshot()
    assert snap.state == BreakerState.CLOSED
    assert snap.last_reason == "probe succeeded"
    assert snap.opened_until is None
    # The failures that opened it are forgotten: two more do not trip it.
    _fail(breaker, 2)
    breaker.before_call()
    assert _event_names() == [
        "integrations.breaker_opened",
        "integrations.breaker_half_open",
        "integrations.breaker_closed",
    ]


def test_probe_failure_reopens_for_another_open_time(account, clock, shared_clock):
    breaker = breaker_for(account, clock=clock)
    _trip(breaker)
    clock.advance(30)
    breaker.before_call()
    breaker.record_failure(Unknown("read timeout", code="read_timeout"))
    error = _refused(breaker)
    assert error.retry_after == pytest.approx(30)
    snap = breaker.snapshot()
    assert snap.state == BreakerState.OPEN
    assert snap.last_reason == "probe failed (read_timeout)"
    clock.advance(30)
    breaker.before_call()  # the next open period ends with a new probe
    breaker.record_success()
    assert breaker.snapshot().state == BreakerState.CLOSED


def test_rejected_probe_means_the_provider_answered(account, clock, shared_clock):
    breaker = breaker_for(account, clock=clock)
    _trip(breaker)
    clock.advance(30)
    breaker.before_call()
    breaker.record_failure(Rejected("card declined", code="card_declined"))
    assert breaker.snapshot().state == BreakerState.CLOSED


def test_probe_that_never_reports_back_is_replaced(account, clock, shared_clock):
    breaker = breaker_for(account, clock=clock)
    _trip(breaker)
    clock.advance(30)
    breaker.before_call()  # this probe's worker "dies": no record_* call
    clock.advance(5)
    _refused(breaker)
    clock.advance(5)  # probe timeout (10 s) over
    breaker.before_call()
    breaker.record_success()
    assert breaker.snapshot().state == BreakerState.CLOSED


def test_probe_refused_locally_frees_the_slot(account, clock, shared_clock):
    breaker = breaker_for(account, clock=clock)
    _trip(breaker)
    clock.advance(30)
    breaker.before_call()
    # Our own rate limiter stopped it: the provider never saw the probe.
    breaker.record_failure(NotProcessed("rate limited", code="rate_limited"))
    breaker.before_call()  # someone else may probe straight away
    breaker.record_success()
    assert breaker.snapshot().state == BreakerState.CLOSED


def test_retry_after_keeps_it_open_until_then(account, clock, shared_clock):
    breaker = breaker_for(account, clock=clock)
    _fail(breaker, 2)
    _fail(
        breaker,
        error=Unknown("busy", code="server_error", http_status=503, retry_after=120),
    )
    assert _refused(breaker).retry_after == pytest.approx(120)
    clock.advance(60)  # past open_seconds (30), not past Retry-After
    _refused(breaker)
    clock.advance(60)
    assert breaker.snapshot().state == BreakerState.HALF_OPEN


def test_retry_after_from_a_probe_429_holds_the_reopened_breaker(
    account, clock, shared_clock
):
    breaker = breaker_for(account, clock=clock)
    _trip(breaker)
    clock.advance(30)
    breaker.before_call()
    breaker.record_failure(
        NotProcessed("slow down", code="rate_limited_by_provider"),
        http_status=429,
        retry_after=90,
    )
    clock.advance(89)
    _refused(breaker)
    clock.advance(1)
    breaker.before_call()


def test_retry_after_is_capped_and_ignored_on_other_statuses(
    account, clock, settings, shared_clock
):
    settings.BREAKER_MAX_RETRY_AFTER_SECONDS = 100
    breaker = breaker_for(account, clock=clock)
    _fail(breaker, 2)
    _fail(breaker, http_status=429, retry_after=10_000)
    assert _refused(breaker).retry_after == pytest.approx(100)

    other = ProviderAccount.objects.create(
        kind="payments",
        provider="sandbox",
        slug="other",
        display_name="Other",
        settings=account.settings,
    )
    breaker = breaker_for(other, clock=clock)
    _fail(breaker, 3, http_status=500, retry_after=10_000)  # not 429/503
    assert _refused(breaker).retry_after == pytest.approx(30)


def test_rejected_failures_do_not_count(account, clock):
    breaker = breaker_for(account, clock=clock)
    declined = Rejected("card declined", code="card_declined", http_status=402)
    _fail(breaker, 10, error=declined)
    breaker.before_call()
    # ...and they break a run of failures, since the provider did answer.
    _fail(breaker, 2)
    _fail(breaker, error=declined)
    _fail(breaker, 2)
    breaker.before_call()
    assert breaker.snapshot().state == BreakerState.CLOSED


def test_our_own_refusals_do_not_count(account, clock):
    breaker = breaker_for(account, clock=clock)
    for code in ("rate_limited", "concurrency_limited", "breaker_open"):
        _fail(breaker, 5, error=NotProcessed("ours", code=code))
    _fail(breaker, 5, error=ConfigurationError("no key", code="missing_credentials"))
    breaker.before_call()
    assert breaker.snapshot().state == BreakerState.CLOSED


def test_5xx_counts_even_without_an_error_object(account, clock):
    breaker = breaker_for(account, clock=clock)
    _fail(breaker, 2, error=None, http_status=502)
    _fail(breaker, error=Rejected("odd", code="odd", http_status=500))
    _refused(breaker)
    assert "http_502" not in breaker.snapshot().last_reason
    assert "last: odd" in breaker.snapshot().last_reason


def test_4xx_without_an_error_object_is_an_answer(account, clock):
    breaker = breaker_for(account, clock=clock)
    _fail(breaker, 5, error=None, http_status=404)
    breaker.before_call()


def test_forced_open_refuses_every_call_in_every_process(account, clock):
    stale = ProviderAccount.objects.get(pk=account.pk)  # loaded before the change
    breaker_mode_set(account=account, mode="forced_open", actor="alice")
    account.refresh_from_db()
    assert account.breaker_mode == "forced_open"
    other = breaker_for(stale, clock=clock)
    with pytest.raises(NotProcessed) as info:
        other.before_call()
    assert info.value.code == "breaker_open"
    assert "forced open" in info.value.message
    snap = other.snapshot()
    assert (snap.state, snap.mode) == (BreakerState.OPEN, "forced_open")
    assert snap.last_reason == "mode set to forced_open by alice"
    assert other.is_open()
    assert _event_names() == ["integrations.breaker_mode_changed"]


def test_forced_closed_never_blocks_and_never_trips(account, clock):
    breaker = breaker_for(account, clock=clock)
    _trip(breaker)
    breaker_mode_set(account=account, mode="forced_closed", actor="alice")
    breaker.before_call()  # open underneath, but staff said always send
    assert breaker.snapshot().state == BreakerState.CLOSED
    assert not breaker.is_open()
    _fail(breaker, 20)
    breaker.before_call()
    breaker_mode_set(account=account, mode="auto", actor="alice")
    _refused(breaker)  # back to automatic: the earlier open state applies


def test_instances_share_state_through_the_cache(account, clock):
    first = breaker_for(account, clock=clock)
    second = breaker_for(ProviderAccount.objects.get(pk=account.pk), clock=clock)
    _fail(first, 2)
    _fail(second)  # the third failure in a row, counted across instances
    _refused(first)


def test_transitions_are_logged_with_fields(account, clock, caplog):
    caplog.set_level(logging.INFO, logger="integrations.breaker")
    breaker = breaker_for(account, clock=clock)
    _trip(breaker)
    record = next(
        r for r in caplog.records if r.getMessage() == "circuit breaker transition"
    )
    assert record.levelno == logging.WARNING
    assert record.account == "pay-primary"
    assert record.breaker_state == "open"
    assert "3 consecutive failures" in record.reason
    event = Event.objects.get(name="integrations.breaker_opened")
    assert event.subject == "pay-primary"
    assert event.payload["breaker_state"] == "open"
    assert event.payload["opened_until"]


def test_settings_defaults_and_invalid_overrides(account, settings):
    settings.BREAKER_OPEN_SECONDS = 45
    account.settings = {"breaker_failure_rate": 3, "breaker_min_calls": "x"}
    config = BreakerConfig.for_account(account)
    assert config.open_seconds == 45
    assert config.failure_rate == settings.BREAKER_FAILURE_RATE
    assert config.min_calls == settings.BREAKER_MIN_CALLS
    account.settings = {"breaker_open_seconds": "12.5"}
    assert BreakerConfig.for_account(account).open_seconds == 12.5


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_one_probe_among_many_threads(clock, shared_clock):
    from tests.factories import ProviderAccountFactory

    from .conftest import BREAKER_SETTINGS

    account = ProviderAccountFactory(settings=dict(BREAKER_SETTINGS))
    _trip(breaker_for(account, clock=clock))
    clock.advance(30)
    passed: list[int] = []
    barrier = threading.Barrier(16)

    def contender(n: int) -> None:
        breaker = breaker_for(account, clock=FakeClock(clock.now))
        barrier.wait()
        try:
            breaker.before_call()
            passed.append(n)
        except NotProcessed:
            pass
        finally:
            connection.close()  # the probe's event was written on this thread

    threads = [threading.Thread(target=contender, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(passed) == 1
