"""Fan-out over real sockets: five local fault servers, one of them hanging.

Speed is measured in bench/, not here: parallelism is proved by a gate the
five requests must pass together, and a wait is bounded only where the bound
is the behaviour (the run's deadline), with room for a loaded machine.
"""

import threading
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

# Room for the quick accounts to answer on a loaded CI machine, where
# starting a thread and its first request can take a second.
DEADLINE = 3.0
# A deadline bound, with room for a loaded machine; the hanging server
# would hold a caller for its 30 s and the account's timeouts for longer.
SLACK = 3


def _quote(adapter) -> dict:
    return adapter.quote()


class GatedServer(FaultServer):
    """A fault server that holds each request it receives at a gate shared
    with the other servers: no server answers until every one has a request
    in flight, so the run gets answers only if it sent them all at once."""

    def __init__(self, gate: threading.Barrier) -> None:
        super().__init__()
        self.gate = gate

    def _record(self, request) -> None:
        super()._record(request)
        # A run that sends one after another breaks the gate at its timeout;
        # every later wait raises at once, so no request is answered.
        self.gate.wait()


@pytest.fixture
def servers():
    with ExitStack() as stack:
        yield [stack.enter_context(FaultServer()) for _ in range(5)]


@pytest.fixture
def gated_servers():
    gate = threading.Barrier(5, timeout=DEADLINE)
    with ExitStack() as stack:
        yield [stack.enter_context(GatedServer(gate)) for _ in range(5)]


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


def test_five_accounts_in_parallel_one_hanging(gated_servers):
    servers = gated_servers
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
    # Left behind at the deadline, not waited for (30 s).
    assert elapsed < DEADLINE * SLACK
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


def test_answers_arrive_in_parallel_not_one_after_another(gated_servers):
    servers = gated_servers
    # The gate answers nobody until all five requests are in flight together.
    for server in servers:
        server.route("GET", QUOTE_PATH, respond(200, json={"amount": 1}))
    _accounts(servers)
    run = run_on_accounts(
        "shipping", _quote, operation_name="quote", deadline_seconds=DEADLINE
    )
    assert len(run.results) == 5
    assert run.failures == ()
    assert servers[0].gate.broken is False
    for server in servers:
        assert len(server.requests_for("GET", QUOTE_PATH)) == 1


def test_provider_errors_over_the_wire_keep_their_outcome(servers):
    servers[0].route("GET", QUOTE_PATH, respond(422, json={"error": "postcode"}))
    servers[1].route("GET", QUOTE_PATH, respond(401))
    for server in servers[2:]:
        server.route("GET", QUOTE_PATH, respond(200, json={"amount": 9}))
    _accounts(servers)
    run = run_on_accounts(
        "shipping", _quote, operation_name="quote", deadline_seconds=DEADLINE
    )
    assert len(run.results) == 3
    assert [(f.account, f.outcome, f.code, f.reason) for f in run.failures] == [
        ("carrier-0", "rejected", "unprocessable", "error"),
        ("carrier-1", "not_processed", "authentication_failed", "error"),
    ]


def test_retries_of_a_failing_account_end_with_the_run(servers):
    # 500s are retried with back-off (idempotent GET): the run's deadline,
    # not the account's 30 s, bounds them.
    servers[0].route("GET", QUOTE_PATH, respond(503, headers={"Retry-After": "2"}))
    for server in servers[1:]:
        server.route("GET", QUOTE_PATH, respond(200, json={"amount": 9}))
    (failing, *_) = _accounts(servers)
    failing.settings = {**failing.settings, "max_attempts": 50}
    failing.save()
    start = time.monotonic()
    run = run_on_accounts(
        "shipping", _quote, operation_name="quote", deadline_seconds=3.5
    )
    # 50 attempts 2 s apart would take 100 s.
    assert time.monotonic() - start < 3.5 * SLACK
    (failure,) = run.failures
    assert failure.account == "carrier-0"
    assert failure.code == "server_error"
    # Retried once (at 2 s: the first 503 has 1.5 s to come, loaded or
    # not); a second retry would start past the run's end (4 s > 3.5 s).
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
            "shipping",
            quote_and_look,
            operation_name="quote",
            deadline_seconds=DEADLINE,
        )
    assert len(run.results) == 5
    assert connected == [False] * 5
    call_log.writer.flush()
    rows = ProviderCall.objects.filter(correlation_id="checkout-writer")
    assert rows.filter(outcome="success").count() == 5
