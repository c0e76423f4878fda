"""Rate shopping over every sandbox carrier at once: sorted, marked, one
entry per failing carrier, cached by request."""

import copy
import logging
import time
from decimal import Decimal

import pytest
import responses
from django.utils import timezone

from bench.shipping_carrier import PATH as BENCH_CARRIER
from integrations.models import ProviderCall
from integrations.testing.faultserver import FaultServer, respond
from shipping import services
from shipping.models import RateQuote
from shipping.providers import sandbox_rules
from shipping.providers.base import InvalidShippingRequest
from tests.factories import ProviderAccountFactory
from tests.shipping.contract import requests
from tests.shipping.helpers import carrier, shop
from tests.shipping.providers.wire import load

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]


def test_every_carrier_at_once_cheapest_first_with_failures():
    carrier("cheap-post", price_factor=0.8)
    carrier("dear-express", price_factor=1.5)
    carrier("down-freight", outage=True)
    result = shop()
    amounts = [q.amount for q in result.quotes]
    assert amounts == sorted(amounts) and len(amounts) == 6
    assert result.quotes[0].cheapest and result.quotes[0].account == "cheap-post"
    assert sum(q.cheapest for q in result.quotes) == 1
    fastest = [q for q in result.quotes if q.fastest]
    assert len(fastest) == 1 and fastest[0].transit_days == 1
    assert [(f.account, f.code, f.reason) for f in result.failures] == [
        ("down-freight", "connection_refused", "error")
    ]
    assert RateQuote.objects.count() == 6
    assert not result.cached


def test_a_hanging_carrier_times_out_and_the_others_answer():
    carrier("quick", latency_ms=0)
    carrier("stuck", latency_ms=3000)
    started = time.monotonic()
    result = services.rates_shop(request=requests.rate_request(), deadline_seconds=0.5)
    # The 0.5 s deadline, with room for a loaded machine; not the 3 s.
    assert time.monotonic() - started < 0.5 * 3
    assert {q.account for q in result.quotes} == {"quick"}
    (failure,) = result.failures
    assert (failure.account, failure.reason, failure.duration_ms) == (
        "stuck",
        "timeout",
        500,
    )


def test_a_repeat_answers_from_the_cache_without_calling_anyone():
    carrier("cached-post")
    first = shop()
    calls = ProviderCall.objects.count()
    again = shop()
    assert again.cached and not first.cached
    assert [q.quote_id for q in again.quotes] == [q.quote_id for q in first.quotes]
    assert ProviderCall.objects.count() == calls
    other = shop(service_codes=("SBX_GROUND",))
    assert not other.cached


RATES = {"rates": [{"service": "ground", "amount": 700, "currency": "USD", "days": 3}]}


def _bench_carrier(settings, server: FaultServer) -> None:
    adapters = dict(settings.SWITCHYARD_ADAPTERS)
    adapters["shipping"] = {**adapters["shipping"], "bench_carrier": BENCH_CARRIER}
    settings.SWITCHYARD_ADAPTERS = adapters
    ProviderAccountFactory(
        kind="shipping",
        provider="bench_carrier",
        slug="carrier-0",
        settings={"base_url": server.url, "max_attempts": 1},
        credentials={},
    )


def test_a_retry_after_every_carrier_failed_asks_the_carriers_again(settings):
    """The only carrier answers 503 once, then 200: the shop's retry a
    moment later gets the quote, not the failure back from the cache."""
    with FaultServer() as server:
        _bench_carrier(settings, server)
        server.route(
            "POST",
            "/rates",
            respond(503, json={"error": "busy"}),
            respond(200, json=RATES),
        )
        first = shop()
        assert not first.quotes and first.failures
        again = shop()
    assert again.quotes and not again.cached and not again.failures


def test_an_answer_with_a_carrier_down_is_not_cached():
    carrier("up-post")
    carrier("down-freight", outage=True)
    first = shop()
    assert first.quotes and first.failures
    again = shop()  # the down carrier may be back: everyone is asked again
    assert not again.cached
    assert {q.quote_id for q in again.quotes}.isdisjoint(
        q.quote_id for q in first.quotes
    )


def test_an_answer_with_a_carrier_refusal_is_cached(settings):
    with FaultServer() as server:
        _bench_carrier(settings, server)
        server.route(
            "POST",
            "/rates",
            respond(422, json={"error": "no"}),
            respond(200, json=RATES),
        )
        first = shop()
        assert [f.outcome for f in first.failures] == ["rejected"]
        again = shop()
        asked = len(server.requests_for("POST", "/rates"))
    assert again.cached and asked == 1


def test_an_invalid_request_calls_nobody():
    carrier("never-called")
    with pytest.raises(InvalidShippingRequest) as info:
        services.rates_shop(request=requests.INVALID_REQUESTS["customs.items"])
    assert info.value.param == "customs.items"
    assert not ProviderCall.objects.exists()


def test_mixed_currencies_are_sorted_only_within_each_and_never_converted():
    # EUR prices fall between the USD ones: a plain sort would interleave them.
    carrier("us-cheap", currency="USD", price_factor=0.5)
    carrier("us-dear", priority=20, currency="USD", price_factor=2)
    carrier("eu-post", priority=30, currency="EUR", price_factor=1)

    result = shop()

    assert result.currencies == ("USD", "EUR")  # most quotes first
    currencies = [q.currency for q in result.quotes]
    assert currencies == ["USD"] * 6 + ["EUR"] * 3
    for currency in result.currencies:
        group = [q for q in result.quotes if q.currency == currency]
        assert [q.amount for q in group] == sorted(q.amount for q in group)
        assert [q.cheapest for q in group] == [True] + [False] * (len(group) - 1)
    eur = [q.amount for q in result.quotes if q.currency == "EUR"]
    usd = [q.amount for q in result.quotes if q.currency == "USD"]
    assert min(usd) < min(eur) < max(usd)  # interleaved had they been mixed
    assert sum(q.fastest for q in result.quotes) == 1
    # The amounts are the carrier's own, as its price rules make them in
    # EUR with factor 1: nothing converted on the way or when stored.
    own = sandbox_rules.quote(
        requests.rate_request(),
        currency="EUR",
        factor=Decimal(1),
        today=timezone.localdate(),
    )
    expected = sorted(rate.amount for rate in own)
    assert sorted(eur) == expected
    stored = RateQuote.objects.filter(account__slug="eu-post")
    assert sorted(stored.values_list("amount", flat=True)) == expected
    assert set(stored.values_list("currency", flat=True)) == {"EUR"}
    again = shop()
    assert again.cached and again.currencies == result.currencies


# --- A carrier's price that is not a price ------------------------------------------

SHIPPO = "https://api.goshippo.com"


def _shippo_quoting(*amounts: str) -> dict:
    """A Shippo account whose answer prices its rates ``amounts``, beside a
    sandbox carrier ("post") quoting as usual."""
    ProviderAccountFactory(
        kind="shipping",
        provider="shippo",
        slug="shippo-main",
        priority=1,
        settings={"max_attempts": 1},
        credentials={"api_token": "shippo_test_" + "a" * 40},
    )
    carrier("post", priority=5)
    body = copy.deepcopy(load("shippo", "shipment_rates.json"))
    body["rates"] = body["rates"][: len(amounts)]
    for rate, amount in zip(body["rates"], amounts, strict=True):
        rate["amount"] = amount
    return body


def _shop_shippo(*amounts: str) -> services.RateShopResult:
    body = _shippo_quoting(*amounts)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(f"{SHIPPO}/shipments", status=201, json=body)
        return services.rates_shop(request=requests.international_rate_request())


def test_an_absurd_carrier_price_fails_that_carrier_alone_never_the_shop():
    # Was: DataError (bigint out of range) storing the quotes, every
    # carrier's quotes lost and a 500 at the API.
    result = _shop_shippo("100000000000000000.00")

    assert {q.account for q in result.quotes} == {"post"}
    assert [(f.account, f.code) for f in result.failures] == [
        ("shippo-main", "malformed_response")
    ]


def test_a_negative_or_zero_carrier_price_is_never_offered(caplog):
    caplog.set_level(logging.WARNING, logger="shipping.providers.prices")

    result = _shop_shippo("-7.90", "0.00")

    # Was: Shippo's -790 stored as a buyable quote and marked cheapest.
    assert [q.account for q in result.quotes if q.cheapest] == ["post"]
    assert all(q.amount > 0 for q in result.quotes)
    assert not RateQuote.objects.filter(amount__lte=0).exists()
    assert [f.account for f in result.failures] == ["shippo-main"]
    dropped = [r for r in caplog.records if r.msg.startswith("carrier rate dropped")]
    assert [r.account for r in dropped] == ["shippo-main", "shippo-main"]


def test_one_unusable_price_drops_that_rate_and_keeps_the_carriers_others():
    result = _shop_shippo("100000000000000000.00", "-1.00", "11.27")

    shippo = [
        (q.service_code, q.amount) for q in result.quotes if q.account == "shippo-main"
    ]
    assert shippo == [("ups_ground", 1127)]
    assert not result.failures
