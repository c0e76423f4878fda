"""Rate shopping over real sockets: local fault servers as carriers, one of
them hanging and one failing, the others' rates within the deadline."""

import time
from contextlib import ExitStack

import pytest

from bench.shipping_carrier import PATH
from integrations.testing.faultserver import FaultServer, hang, respond
from shipping import services
from tests.factories import ProviderAccountFactory
from tests.shipping.contract import requests

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
RATES = {"rates": [{"service": "ground", "amount": 700, "currency": "USD", "days": 3}]}


@pytest.fixture
def carriers(settings):
    adapters = dict(settings.SWITCHYARD_ADAPTERS)
    adapters["shipping"] = {**adapters["shipping"], "bench_carrier": PATH}
    settings.SWITCHYARD_ADAPTERS = adapters
    with ExitStack() as stack:
        servers = [stack.enter_context(FaultServer()) for _ in range(4)]
        for n, server in enumerate(servers):
            ProviderAccountFactory(
                kind="shipping",
                provider="bench_carrier",
                slug=f"carrier-{n}",
                priority=n,
                settings={"base_url": server.url},
                credentials={},
            )
        yield servers


def test_parallel_quotes_with_one_hanging_and_one_failing(carriers):
    for server in carriers[:2]:
        server.route("POST", "/rates", respond(200, json=RATES, latency=0.2))
    carriers[2].route("POST", "/rates", hang())
    carriers[3].route("POST", "/rates", respond(500, json={"error": "down"}))
    started = time.monotonic()
    result = services.rates_shop(request=requests.rate_request(), deadline_seconds=1)
    elapsed = time.monotonic() - started
    # The 1 s deadline, with room for a loaded machine; the hang lasts 30 s.
    assert elapsed < 1 * 3, "the hanging carrier held the caller"
    assert {q.account for q in result.quotes} == {"carrier-0", "carrier-1"}
    reasons = {f.account: (f.reason, f.outcome) for f in result.failures}
    assert reasons == {
        "carrier-2": ("timeout", "unknown"),
        "carrier-3": ("error", "unknown"),
    }
