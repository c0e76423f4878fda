"""A carrier's JSON may escape a lone surrogate ("\\ud800"): Python reads it
as text that PostgreSQL (UTF-8) cannot take. In a rate's code or id that rate
is dropped alone, as one with a NUL is; in its name it is cleaned, as a
NUL is. Was: an encoding error storing the quotes, every carrier's lost."""

import copy

import pytest
import responses

from shipping import services
from shipping.models import RateQuote
from tests.shipping.contract import harness_shippo
from tests.shipping.contract import requests as shared
from tests.shipping.helpers import carrier
from tests.shipping.providers.wire import load

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
LONE = "\ud800"


def _shop(first_rate: dict) -> services.RateShopResult:
    harness_shippo.make_account()
    carrier("post", priority=5)
    body = copy.deepcopy(load("shippo", "shipment_rates.json"))
    body["rates"][0]["servicelevel"].update(first_rate)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(f"{harness_shippo.BASE}/shipments", status=201, json=body)
        return services.rates_shop(request=shared.rate_request())


def test_a_lone_surrogate_in_a_rate_code_drops_that_rate_alone():
    shippo_rates = len(load("shippo", "shipment_rates.json")["rates"])
    code = f"usps_{LONE}priority"
    result = _shop({"token": code, "extended_token": code})

    shippo = [q for q in result.quotes if q.account != "post"]
    assert len(shippo) == shippo_rates - 1
    assert any(q.account == "post" for q in result.quotes)
    assert RateQuote.objects.count() == len(result.quotes)


def test_a_lone_surrogate_in_a_rate_name_is_cleaned():
    shippo_rates = len(load("shippo", "shipment_rates.json")["rates"])
    result = _shop({"name": f"Priority {LONE}Mail"})

    shippo = [q for q in result.quotes if q.account != "post"]
    assert len(shippo) == shippo_rates
    assert any(q.service_name.endswith("Priority Mail") for q in shippo)
