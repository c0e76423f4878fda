"""A carrier's currency code in lower case ("usd"): the money helpers read
it as USD, and so must everything after them. Quoted, it is one currency with
the other carriers' USD quotes (one group, one cheapest), never a group of
its own; billed for a label, the shipment's currency is "USD"."""

import copy
from datetime import timedelta

import pytest
import responses
from django.utils import timezone

from shipping import codec, services
from shipping.models import RateQuote, ShipmentStatus
from tests.shipping.contract import harness_shippo
from tests.shipping.contract import requests as shared
from tests.shipping.helpers import carrier
from tests.shipping.providers.wire import load


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("threads_db")
def test_a_lower_case_quote_currency_is_the_iso_code():
    harness_shippo.make_account()
    carrier("post", priority=5)
    body = copy.deepcopy(load("shippo", "shipment_rates.json"))
    for rate in body["rates"]:
        rate["currency"] = rate["currency_local"] = "usd"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(f"{harness_shippo.BASE}/shipments", status=201, json=body)
        result = services.rates_shop(request=shared.rate_request())

    assert result.currencies == ("USD",)
    assert {q.currency for q in result.quotes} == {"USD"}
    assert sum(q.cheapest for q in result.quotes) == 1
    assert set(RateQuote.objects.values_list("currency", flat=True)) == {"USD"}


@pytest.mark.django_db
def test_a_lower_case_billed_currency_is_the_iso_code(
    django_capture_on_commit_callbacks,
):
    account = harness_shippo.make_account()
    answer = load("shippo", "transaction_success.json")
    answer["rate"]["currency"] = "usd"
    request = harness_shippo._label_request()
    quote = RateQuote.objects.create(
        fingerprint="c" * 64,
        account=account,
        carrier="USPS",
        service_code=request.service_code,
        service_name="Priority Mail",
        carrier_rate_id=request.carrier_rate_id,
        amount=790,
        currency="USD",
        request=codec.request_to_json(shared.rate_request()),
        expires_at=timezone.now() + timedelta(minutes=10),
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(f"{harness_shippo.BASE}/transactions", status=201, json=answer)
        mocked.get(
            harness_shippo.LABEL_URL,
            body=(harness_shippo.FIXTURES / "label.pdf").read_bytes(),
        )
        with django_capture_on_commit_callbacks(execute=True):
            shipment = services.shipment_buy(quote_id=quote.public_id)

    assert shipment.status == ShipmentStatus.PURCHASED, shipment.failure_code
    assert (shipment.amount, shipment.currency) == (790, "USD")
