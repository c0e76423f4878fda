"""Retries: counts, full-jitter back-off bounds, Retry-After, the deadline, and
the breaker and rate limiter around every attempt. The clock is fake: no test
here sleeps for a back-off."""

import time
from email.utils import formatdate

import pytest

from integrations.breaker import breaker_for, breaker_mode_set
from integrations.client import parse_retry_after
from integrations.client.fallback import fallback_ready
from integrations.errors import NotProcessed, Unknown
from integrations.models import ProviderCall
from integrations.testing.faultserver import hang, respond
from tests.integrations.client.conftest import UpperBoundJitter

pytestmark = pytest.mark.django_db


def test_backoff_bounds_double_and_are_capped(make_client, refused_url, fake_time):
    jitter = UpperBoundJitter()
    client = make_client(
        jitter=jitter,
        max_attempts=5,
        backoff_base_seconds=0.1,
        backoff_cap_seconds=0.3,
    )

    with pytest.raises(NotProcessed):
        client.request("GET", refused_url, operation="x", idempotent=True)

    assert jitter.ranges == [(0, 0.1), (0, 0.2), (0, 0.3), (0, 0.3)]
    assert fake_time.sleeps == [0.1, 0.2, 0.3, 0.3]
    assert ProviderCall.objects.get().attempts == 5


def test_full_jitter_stays_within_bounds(make_client, refused_url, fake_time):
    client = make_client(
        max_attempts=8, backoff_base_seconds=0.5, backoff_cap_seconds=4
    )

    with pytest.raises(NotProcessed):
        client.request("GET", refused_url, operation="x", idempotent=True)

    bounds = [min(4, 0.5 * 2**n) for n in range(7)]
    assert len(fake_time.sleeps) == 7
    for slept, bound in zip(fake_time.sleeps, bounds, strict=True):
        assert 0 <= slept <= bound


def test_max_attempts_one_means_no_retry(make_client, refused_url, fake_time):
    client = make_client(max_attempts=1)

    with pytest.raises(NotProcessed):
        client.request("GET", refused_url, operation="x", idempotent=True)

    assert fake_time.sleeps == []


def test_retry_after_in_seconds_is_waited_for(client, fault, fake_time):
    fault.route("GET", "/x", respond(503, headers={"Retry-After": "4"}), respond(200))

    client.request("GET", fault.url_for("/x"), operation="x", idempotent=True)

    assert fake_time.sleeps == [4.0]


def test_retry_after_http_date_is_measured_against_the_server_date(
    client, fault, fake_time
):
    # Years in the past on purpose: only the difference to Date counts.
    headers = {
        "Date": "Wed, 21 Oct 2015 07:28:00 GMT",
        "Retry-After": "Wed, 21 Oct 2015 07:28:07 GMT",
    }
    fault.route("GET", "/x", respond(429, headers=headers), respond(200))

    client.request("GET", fault.url_for("/x"), operation="x", idempotent=True)

    assert fake_time.sleeps == [7.0]


def test_retry_after_beyond_the_cap_is_not_waited_for(make_client, fault, fake_time):
    client = make_client(retry_after_cap_seconds=5)
    fault.route("GET", "/x", respond(429, headers={"Retry-After": "60"}))

    with pytest.raises(NotProcessed) as caught:
        client.request("GET", fault.url_for("/x"), operation="x", idempotent=True)

    assert caught.value.retry_after == 60.0
    assert fake_time.sleeps == []
    assert len(fault.requests_for("GET", "/x")) == 1


def test_no_retry_sleeps_past_the_deadline(make_client, refused_url, fake_time):
    jitter = UpperBoundJitter()
    client = make_client(
        jitter=jitter,
        max_attempts=10,
        deadline_seconds=1.0,
        backoff_base_seconds=0.4,
        backoff_cap_seconds=10,
    )

    with pytest.raises(NotProcessed):
        client.request("GET", refused_url, operation="x", idempotent=True)

    # 0.4 s, then 0.8 s would end at 1.2 s > 1.0 s: that retry is not made.
    assert fake_time.sleeps == [0.4]
    assert ProviderCall.objects.get().attempts == 2


def test_retry_after_past_the_deadline_is_not_waited_for(make_client, fault, fake_time):
    client = make_client(deadline_seconds=3, retry_after_cap_seconds=10)
    fault.route("GET", "/x", respond(429, headers={"Retry-After": "5"}))

    with pytest.raises(NotProcessed):
        client.request("GET", fault.url_for("/x"), operation="x", idempotent=True)

    assert fake_time.sleeps == []


def test_deadline_clamps_the_read_timeout(make_client, fault):
    # read_timeout alone would wait 5 s; the 0.3 s deadline cuts it short.
    client = make_client(read_timeout=5, deadline_seconds=0.3, max_attempts=1)
    fault.route("GET", "/slow", hang())

    started = time.monotonic()
    with pytest.raises(Unknown) as caught:
        client.request("GET", fault.url_for("/slow"), operation="x", idempotent=True)

    assert caught.value.code == "read_timeout"
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 3 ", 3.0),
        ("1.5", 1.5),
        ("-4", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # in the past
    ],
)
def test_parse_retry_after(value, expected):
    now = 1_700_000_000.0
    assert parse_retry_after(value, now=now) == expected


@pytest.mark.parametrize(
    "value",
    [
        "inf",
        "Infinity",
        "1e12",
        "1e400",
        "99999999999",
        "Fri, 31 Dec 9999 23:59:59 GMT",
    ],
)
def test_parse_retry_after_clamps_an_absurd_wait(value, settings):
    # Every consumer (the retry loop, a batch job's pause, a forward's next
    # attempt) gets a finite wait no longer than the one configured maximum.
    settings.BREAKER_MAX_RETRY_AFTER_SECONDS = 600
    assert parse_retry_after(value, now=1_700_000_000.0) == 600.0


@pytest.mark.parametrize(("value", "expected"), [("nan", None), ("-inf", 0.0)])
def test_parse_retry_after_refuses_a_wait_that_is_no_number(value, expected):
    assert parse_retry_after(value, now=1_700_000_000.0) == expected


def test_parse_retry_after_http_date_against_now():
    now = 1_700_000_000.0
    value = formatdate(now + 30, usegmt=True)
    assert parse_retry_after(value, now=now) == 30.0


# --- The breaker and rate limiter around each attempt --------------------------


def test_open_breaker_fails_fast_without_a_request(client, fault, account):
    fault.route("POST", "/x", respond(200))
    breaker_mode_set(account=account, mode="forced_open")

    with pytest.raises(NotProcessed) as caught:
        client.request("POST", fault.url_for("/x"), operation="x", idempotent=True)

    assert caught.value.code == "breaker_open"
    assert fault.requests == []
    call = ProviderCall.objects.get()
    assert (call.outcome, call.attempts, call.error_code) == (
        "not_processed",
        0,
        "breaker_open",
    )


def test_failures_trip_the_breaker_then_calls_fail_fast(
    make_client, fault, account, fake_time
):
    client = make_client(max_attempts=1, breaker_consecutive_failures=2)
    fault.route("POST", "/x", respond(500))

    for _ in range(2):
        with pytest.raises(Unknown):
            client.request("POST", fault.url_for("/x"), operation="x", idempotent=False)
    with pytest.raises(NotProcessed) as caught:
        client.request("POST", fault.url_for("/x"), operation="x", idempotent=False)

    assert caught.value.code == "breaker_open"
    assert len(fault.requests_for("POST", "/x")) == 2
    assert breaker_for(account).is_open()


def test_rejections_do_not_trip_the_breaker(make_client, fault, account):
    client = make_client(max_attempts=1, breaker_consecutive_failures=2)
    fault.route("POST", "/x", respond(422))

    for _ in range(3):
        with pytest.raises(Exception, match="422"):
            client.request("POST", fault.url_for("/x"), operation="x", idempotent=False)

    assert not breaker_for(account).is_open()
    assert len(fault.requests_for("POST", "/x")) == 3


def test_rate_limited_call_fails_fast_and_is_not_retried(make_client, fault):
    client = make_client(
        rate_limit_per_second=0.001,
        rate_limit_burst=1,
        rate_limit_max_wait_seconds=0.01,
    )
    fault.route("GET", "/x", respond(200))

    client.request("GET", fault.url_for("/x"), operation="x", idempotent=True)
    with pytest.raises(NotProcessed) as caught:
        client.request("GET", fault.url_for("/x"), operation="x", idempotent=True)

    assert caught.value.code == "rate_limited"
    assert len(fault.requests_for("GET", "/x")) == 1
    outcomes = sorted(ProviderCall.objects.values_list("outcome", "attempts"))
    assert outcomes == [("not_processed", 0), ("success", 1)]


def test_unreachable_host_is_not_retried_when_another_account_can_take_over(
    make_client, refused_url, fake_time
):
    client = make_client(max_attempts=4)

    with fallback_ready(), pytest.raises(NotProcessed) as caught:
        client.request("GET", refused_url, operation="x", idempotent=True)

    assert caught.value.code == "connection_refused"
    assert fake_time.sleeps == []
    assert ProviderCall.objects.get().attempts == 1


def test_the_last_account_still_retries_an_unreachable_host(
    make_client, refused_url, fake_time
):
    client = make_client(max_attempts=3)

    with fallback_ready(False), pytest.raises(NotProcessed):
        client.request("GET", refused_url, operation="x", idempotent=True)

    assert len(fake_time.sleeps) == 2
    assert ProviderCall.objects.get().attempts == 3


def test_a_server_error_is_retried_even_with_another_account_ready(
    client, fault, fake_time
):
    # The host answers: a passing 503 is cheaper to retry than to switch away.
    fault.route("GET", "/x", respond(503), respond(200))

    with fallback_ready():
        client.request("GET", fault.url_for("/x"), operation="x", idempotent=True)

    assert len(fake_time.sleeps) == 1
