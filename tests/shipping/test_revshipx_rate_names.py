"""A rate's service name is the text shown to the buyer, not an id: one the
quote column cannot hold as sent (a newline, a NUL, longer than 128) is
cleaned and cut, and the rate, a price the shop can buy, is offered. Its
code and rate id are ids: one that cannot be stored still drops the rate."""

import copy

import pytest
import responses

from shipping import services
from shipping.models import RateQuote
from tests.shipping.contract import harness_shippo
from tests.shipping.contract import requests as shared
from tests.shipping.providers.wire import load

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]


def _shop(name: str) -> tuple[services.RateShopResult, dict]:
    harness_shippo.make_account()
    body = copy.deepcopy(load("shippo", "shipment_rates.json"))
    first = body["rates"][0]
    first["servicelevel"]["name"] = name
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(f"{harness_shippo.BASE}/shipments", status=201, json=body)
        return services.rates_shop(request=shared.rate_request()), first


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Priority\x00 Mail", "Priority Mail"),
        ("Priority\nMail\t Express", "Priority Mail Express"),
        ("Priority Mail \ufffd", "Priority Mail"),
    ],
    ids=["nul", "newline and tab", "replacement character"],
)
def test_a_rate_whose_name_has_control_characters_is_offered_cleaned(name, shown):
    shippo_rates = len(load("shippo", "shipment_rates.json")["rates"])
    result, first = _shop(name)

    assert len(result.quotes) == shippo_rates
    quote = RateQuote.objects.get(carrier_rate_id=first["object_id"])
    assert quote.service_name.endswith(shown)


def test_a_rate_whose_name_is_too_long_is_offered_with_it_cut():
    shippo_rates = len(load("shippo", "shipment_rates.json")["rates"])
    result, first = _shop("P" * 300)

    assert len(result.quotes) == shippo_rates
    quote = RateQuote.objects.get(carrier_rate_id=first["object_id"])
    assert len(quote.service_name) == 128
    assert quote.service_name.endswith("…")
