"""Fan-out over real sockets: five local fault servers, one of them hanging."""

import time
from contextlib import ExitStack

import pytest
from django.db import connections

from integrations import call_log, correlation
from integrations.fanout import FailureReason, run_on_accounts
from integrations.models.calls import ProviderCall
from integrations.testing.faultserver import FaultServer, hang, respond
from tests.factories import ProviderAccountFactory
from tests.integrations.fanout.adapters import QUOTE_PATH

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("quote_adapters", "threads_db"),
]

DEADLINE = 0.5


def _quote(adapter) -> dict:
    return adapter.quote()


@pytest.fixture
def servers():
    with ExitStack() as stack:
        yield [stack.enter_context(FaultServer()) for _ in range(5)]


def _accounts(servers):
    return [
        ProviderAccountFactory(
            kind="shipping",
            provider="quotes",
            slug=f"carrier-{n}",
            priority=n,
            settings={"base_url": server.url},
        )
        for n, server in enumerate(servers)
    ]


def test_five_accounts_in_parallel_one_hanging(servers):
    for n, server in enumerate(servers[:4]):
        body = {"amount": 500 + n, "currency": "EUR"}
        server.route("GET", QUOTE_PATH, respond(200, json=body, latency=0.1))
    servers[4].route("GET", QUOTE_PATH, hang())
    _accounts(servers)
    with correlation.bind("checkout-7f3a"):
        start = time.monotonic()
        run = run_on_accounts(
            "shipping", _quote, operation_name="quote", deadline_seconds=DEADLINE
        )
        elapsed = time.monotonic() - start
    assert elapsed < DEADLINE + 0.05
    assert [r.account for r in run.results] == [f"carrier-{n}" for n in range(4)]
    assert [r.result["amount"] for r in run.results] == [500, 501, 502, 503]
    (failure,) = run.failures
    assert (failure.account, failure.reason) == ("carrier-4", FailureReason.TIMEOUT)
    assert failure.outcome == "unknown"
    for server in servers:
        (request,) = server.requests_for("GET", QUOTE_PATH)
        assert request.header("X-Correlation-ID") == "checkout-7f3a"
    # Each thread wrote its call-log row (the hung one's comes later).
    calls = ProviderCall.objects.filter(correlation_id="checkout-7f3a")
    assert calls.filter(outcome="success").count() == 4


def test_answers_arrive_in_parallel_not_one_after_another(servers):
    for server in servers:
        server.route("GET", QUOTE_PATH, respond(200, json={"amount": 1}, latency=0.3))
    _accounts(servers)
    start = time.monotonic()
    run = run_on_accounts(
        "shipping", _quote, operation_name="quote", deadline_seconds=3
    )
    elapsed = time.monotonic() - start
    assert len(run.results) == 5
    assert run.failures == ()
    assert elapsed < 0.3 * 2


def test_provider_errors_over_the_wire_keep_their_outcome(servers):
    servers[0].route("GET", QUOTE_PATH, respond(422, json={"error": "postcode"}))
    servers[1].route("GET", QUOTE_PATH, respond(401))
    for server in servers[2:]:
        server.route("GET", QUOTE_PATH, respond(200, json={"amount": 9}))
    _accounts(servers)
    run = run_on_accounts(
        "shipping", _quote, operation_name="quote", deadline_seconds=2
    )
    assert len(run.results) == 3
    assert [(f.account, f.outcome, f.code, f.reason) for f in run.failures] == [
        ("carrier-0", "rejected", "unprocessable", "error"),
        ("carrier-1", "not_processed", "authentication_failed", "error"),
    ]


def test_retries_of_a_failing_account_end_with_the_run(servers):
    # 500s are retried with back-off (idempotent GET): the run's deadline,
    # not the account's 30 s, bounds them.
    servers[0].route("GET", QUOTE_PATH, respond(503, headers={"Retry-After": "0.3"}))
    for server in servers[1:]:
        server.route("GET", QUOTE_PATH, respond(200, json={"amount": 9}))
    (failing, *_) = _accounts(servers)
    failing.settings = {**failing.settings, "max_attempts": 50}
    failing.save()
    start = time.monotonic()
    run = run_on_accounts(
        "shipping", _quote, operation_name="quote", deadline_seconds=0.5
    )
    assert time.monotonic() - start < 0.55
    (failure,) = run.failures
    assert failure.account == "carrier-0"
    assert failure.code == "server_error"
    # Retried once (at 0.3 s); a second retry would start past the run's end.
    assert len(servers[0].requests_for("GET", QUOTE_PATH)) == 2


@pytest.mark.postgres
def test_threads_leave_the_call_log_to_its_writer_without_connecting(servers, settings):
    # Production's call log: rows written behind the call by one writer
    # thread, so a worker needs no PostgreSQL connection of its own.
    settings.PROVIDER_CALL_LOG_LINGER_MS = 50
    for server in servers:
        server.route("GET", QUOTE_PATH, respond(200, json={"amount": 1}))
    _accounts(servers)
    connected = []

    def quote_and_look(adapter) -> dict:
        quote = adapter.quote()
        connected.append(connections["default"].connection is not None)
        return quote

    with correlation.bind("checkout-writer"):
        run = run_on_accounts(
            "shipping", quote_and_look, operation_name="quote", deadline_seconds=2
        )
    assert len(run.results) == 5
    assert connected == [False] * 5
    call_log.writer.flush()
    rows = ProviderCall.objects.filter(correlation_id="checkout-writer")
    assert rows.filter(outcome="success").count() == 5
