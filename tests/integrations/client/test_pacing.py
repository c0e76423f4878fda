"""Pace versus fail over, over the local fault server: a transactional call
treats a provider 429 as "this account cannot serve" (NotProcessed, counted
by the breaker); a paced call waits it out within its budget, then raises
Paced, and the breaker does not count it."""

import pytest

from integrations.breaker import breaker_for
from integrations.client import ProviderClient
from integrations.errors import NotProcessed, Outcome, Paced, Unknown
from integrations.models import ProviderCall
from integrations.testing.faultserver import fault_server, respond
from tests.integrations.client.conftest import UpperBoundJitter

pytestmark = pytest.mark.django_db

BUSY = respond(429, headers={"Retry-After": "1"})
BUSY_NOW = respond(429, headers={"Retry-After": "0"})
LONG_BUSY = respond(429, headers={"Retry-After": "30"})
OK = respond(200, json={"ok": True})


def test_a_transactional_429_fails_over_and_counts(make_client, fault, fake_time):
    client = make_client(breaker_consecutive_failures=1)
    fault.route("POST", "/send", LONG_BUSY)

    with pytest.raises(NotProcessed) as info:
        client.request(
            "POST", fault.url_for("/send"), operation="send", idempotent=False
        )

    assert type(info.value) is NotProcessed
    assert info.value.code == "too_many_requests"
    assert fake_time.sleeps == []
    assert breaker_for(client.account).snapshot().state == "open"


def test_a_paced_429_is_waited_out_and_not_counted(make_client, fault, fake_time):
    client = make_client(breaker_consecutive_failures=1)
    fault.route("POST", "/send", BUSY, BUSY, BUSY, BUSY, OK)

    response = client.request(
        "POST",
        fault.url_for("/send"),
        operation="send",
        idempotent=False,
        pacing=True,
        max_wait=10,
    )

    assert response.status_code == 200
    # Throttles are not attempts: four waits, more than max_attempts (3).
    assert fake_time.sleeps == [1.0, 1.0, 1.0, 1.0]
    keys = {r.header("Idempotency-Key") for r in fault.requests_for("POST", "/send")}
    assert len(keys) == 1
    assert breaker_for(client.account).snapshot().state == "closed"
    row = ProviderCall.objects.get()
    assert (row.outcome, row.attempts) == ("success", 5)


def test_a_paced_429_past_the_budget_raises_paced(make_client, fault, fake_time):
    client = make_client(breaker_consecutive_failures=1)
    fault.route("POST", "/send", LONG_BUSY)

    with pytest.raises(Paced) as info:
        client.request(
            "POST",
            fault.url_for("/send"),
            operation="send",
            idempotent=False,
            pacing=True,
            max_wait=5,
        )

    assert info.value.code == "paced"
    assert info.value.outcome == Outcome.NOT_PROCESSED
    assert (info.value.http_status, info.value.retry_after) == (429, 30.0)
    assert fake_time.sleeps == []
    assert breaker_for(client.account).snapshot().state == "closed"
    row = ProviderCall.objects.get()
    assert (row.outcome, row.error_code) == ("not_processed", "paced")


def test_paced_waits_do_not_eat_the_deadline(make_client, fault, fake_time):
    client = make_client(deadline_seconds=2)
    fault.route("GET", "/list", respond(429, headers={"Retry-After": "5"}), OK)

    response = client.request(
        "GET",
        fault.url_for("/list"),
        operation="list",
        idempotent=True,
        pacing=True,
        max_wait=10,
    )

    assert response.status_code == 200
    # 5 s waited on a 2 s deadline: the attempt after it still had its time.
    assert fake_time.sleeps == [5.0]


def test_without_retry_after_a_paced_429_backs_off(make_client, fault, fake_time):
    client = make_client(backoff_base_seconds=0.5)
    fault.route("GET", "/list", respond(429), OK)

    client.request(
        "GET", fault.url_for("/list"), operation="list", idempotent=True, pacing=True
    )

    assert len(fake_time.sleeps) == 1
    assert 0 <= fake_time.sleeps[0] <= 0.5


def test_a_paced_retry_after_zero_backs_off_instead_of_hammering(
    make_client, fault, fake_time
):
    # "Retry-After: 0" means "now": taken at its word, the call re-sent at
    # once for the whole budget (a paced 429 is not counted by the breaker).
    client = make_client(jitter=UpperBoundJitter())
    fault.route("POST", "/send", *[BUSY_NOW] * 4, OK)

    response = client.request(
        "POST",
        fault.url_for("/send"),
        operation="send",
        idempotent=False,
        pacing=True,
        max_wait=30,
    )

    assert response.status_code == 200
    # At least one back-off step (0.25 s), doubling as a retry's would.
    assert fake_time.sleeps == [0.25, 0.5, 1.0, 2.0]


def test_a_paced_retry_after_zero_over_real_time_sends_a_handful(account):
    account.settings = {**account.settings, "deadline_seconds": 30}
    account.save(update_fields=["settings"])
    client = ProviderClient(account)
    with fault_server() as server:
        server.route("POST", "/send", BUSY_NOW)
        with pytest.raises(Paced):
            client.request(
                "POST",
                server.url_for("/send"),
                operation="send",
                idempotent=False,
                pacing=True,
                max_wait=2,
            )
        sent = len(server.requests_for("POST", "/send"))
    client.close()
    # Back-off (0.25 s floor, doubling, 2 s cap) sends a handful in 2 s.
    assert sent <= 10, f"{sent} requests in a 2 s pacing budget"


def test_a_paced_call_waits_out_a_bounded_number_of_429s(make_client, fault, fake_time):
    client = make_client(max_throttled_attempts=3)
    fault.route("POST", "/send", BUSY)

    with pytest.raises(Paced) as info:
        client.request(
            "POST",
            fault.url_for("/send"),
            operation="send",
            idempotent=False,
            pacing=True,
            max_wait=600,
        )

    # Three throttled attempts, two waits; then come back later.
    assert len(fault.requests_for("POST", "/send")) == 3
    assert fake_time.sleeps == [1.0, 1.0]
    assert info.value.retry_after == 1.0
    assert breaker_for(client.account).snapshot().state == "closed"


def test_an_unknown_attempt_is_not_hidden_by_a_later_paced(
    make_client, fault, fake_time
):
    client = make_client()
    fault.route("GET", "/list", respond(503), LONG_BUSY)

    with pytest.raises(Unknown) as info:
        client.request(
            "GET",
            fault.url_for("/list"),
            operation="list",
            idempotent=True,
            pacing=True,
            max_wait=5,
        )
    # A 5xx then a throttle: the first may have acted, so unknown wins.
    assert info.value.code == "server_error"


def test_our_limiter_fails_a_transactional_call_but_paces_a_bulk_one(
    make_client, fault
):
    # 4/s: the token the first call spent comes back after 250 ms, longer
    # than a loaded machine takes between the two calls (20/s: 50 ms did not).
    client = make_client(
        rate_limit_per_second=4,
        rate_limit_burst=1,
        rate_limit_max_wait_seconds=0,
    )
    fault.route("POST", "/send", OK)
    url = fault.url_for("/send")
    client.request("POST", url, operation="send", idempotent=False)

    with pytest.raises(NotProcessed) as info:
        client.request("POST", url, operation="send", idempotent=False)
    assert info.value.code == "rate_limited"

    # Three messages in one call: three tokens, waited for (real time).
    response = client.request(
        "POST", url, operation="send", idempotent=False, pacing=True, weight=3
    )
    assert response.status_code == 200
    assert len(fault.requests_for("POST", "/send")) == 2
    assert breaker_for(client.account).snapshot().state == "closed"


def test_our_limiter_past_the_budget_raises_paced_and_sends_nothing(make_client, fault):
    client = make_client(rate_limit_per_second=1, rate_limit_burst=1)
    fault.route("POST", "/send", OK)
    url = fault.url_for("/send")
    client.request("POST", url, operation="send", idempotent=False)

    with pytest.raises(Paced) as info:
        client.request(
            "POST",
            url,
            operation="send",
            idempotent=False,
            pacing=True,
            weight=5,
            max_wait=0.2,
        )

    assert info.value.retry_after == pytest.approx(5.0, abs=0.2)
    assert len(fault.requests_for("POST", "/send")) == 1
