"""UPS's two state limits (ship40): Rating.yaml Address.StateProvinceCode
takes 2 characters (minLength and maxLength 2), Shipping.yaml
ShipTo/Shipper/ShipFrom StateProvinceCode 5 ("For Vietnam (VN), the value
must be a valid province code (for example, VN-44). If the country or
territory is Ireland, the StateProvinceCode must contain the county").

Before, both a quote and a label were checked against Rating's 2: a
Vietnamese "VN-44" or an Irish county was a 400 at our API for the label too,
which UPS's Shipping API would have taken. Now a quote sends such a state
not at all (Rating does not require one outside the US and Canada, whose
codes are 2 letters) and a label sends it whole, checked against 5.
"""

import copy
from dataclasses import replace

import pytest

from integrations.models import ProviderCall
from shipping.api_examples import RATE_REQUEST
from tests.shipping.contract import requests as shared
from tests.shipping.helpers import api_client, merchandise
from tests.shipping.state_cases import ups_label, ups_quote

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
RATES = "/api/v1/shipping/rates/"
SHIPMENTS = "/api/v1/shipping/shipments/"
HANOI = {
    "name": "Nguyen Buyer",
    "street_lines": ["1 Trang Tien"],
    "city": "Hanoi",
    "state_code": "VN-44",
    "postal_code": "100000",
    "country_code": "VN",
    "phone": "+84245550123",
}
CUSTOMS = merchandise()


def _quote_at_ups(to_address: dict) -> tuple[object, dict | None]:
    body = copy.deepcopy(RATE_REQUEST) | {
        "to_address": to_address,
        "customs": copy.deepcopy(CUSTOMS),
    }
    # Quoted by a key that may only read shipping.
    reader = api_client("shipping:read")
    return ups_quote(body, lambda body: reader.post(RATES, body, format="json"))


@pytest.mark.parametrize(
    "state", ["VN-44", "Cork"], ids=["vietnamese-province", "irish-county"]
)
def test_a_ups_label_sends_a_state_up_to_shippings_5_whole(state):
    country = "VN" if state.startswith("VN") else "IE"
    to_address = HANOI | {"state_code": state, "country_code": country}

    reply, shipment = ups_label(to_address, f"s40-{country}")

    assert reply.status_code == 201, reply.json()
    assert shipment["ShipTo"]["Address"]["StateProvinceCode"] == state


def test_a_ups_quote_leaves_a_state_longer_than_ratings_2_out():
    reply, shipment = _quote_at_ups(copy.deepcopy(HANOI))

    assert reply.status_code == 200, reply.json()
    assert reply.json()["quotes"] and reply.json()["failures"] == []
    assert "StateProvinceCode" not in shipment["ShipTo"]["Address"]
    # The US shipper's 2-letter state is Rating's form: still sent.
    assert shipment["Shipper"]["Address"]["StateProvinceCode"] == "TN"


def test_a_state_longer_than_shippings_5_is_a_400_for_a_quote_and_a_label():
    # Where UPS requires the state (US, CA, VN): an optional one, such as an
    # Irish county, is left out instead (ship41).
    to_address = HANOI | {"state_code": "VN-444"}

    quoted, rating = _quote_at_ups(copy.deepcopy(to_address))
    bought, shipping = ups_label(to_address, "s40-long")

    for reply in (quoted, bought):
        assert reply.status_code == 400, reply.json()
        error = reply.json()["error"]
        assert (error["param"], error["code"]) == (
            "to_address.state_code",
            "field_too_long",
        )
        assert "at most 5 characters" in error["message"]
    assert rating is None and shipping is None
    assert not ProviderCall.objects.filter(operation="ups_create_label").exists()


def test_a_province_of_3_is_still_refused_for_a_quote_at_ratings_2():
    # Rating's 2 for a US state or Canadian province; a US state of 3 names
    # none, invalid_state first (test_ship46_us_state_forms).
    body = copy.deepcopy(RATE_REQUEST["to_address"]) | {
        "city": "Toronto",
        "state_code": "ONT",
        "postal_code": "M5V 2T6",
        "country_code": "CA",
    }

    reply, rating = _quote_at_ups(body)

    assert reply.status_code == 400, reply.json()
    assert reply.json()["error"]["param"] == "to_address.state_code"
    assert "at most 2 characters" in reply.json()["error"]["message"]
    assert rating is None


def test_a_ups_label_without_an_hs_code_sends_no_commodity_code():
    # CommodityCode minLength 6, optional on a commercial invoice: an empty
    # one sent would be refused at UPS; none given is left out.
    item = replace(shared.CUSTOMS.items[0], hs_code="")
    customs = replace(shared.CUSTOMS, items=(item,))

    reply, shipment = ups_label(HANOI, "s40-nohs", customs)

    assert reply.status_code == 201, reply.json()
    forms = shipment["ShipmentServiceOptions"]["InternationalForms"]
    assert "CommodityCode" not in forms["Product"][0]


@pytest.mark.parametrize(
    ("state", "sent"), [("NSW", "NSW"), ("Tasman", None)], ids=["fits", "longer"]
)
def test_a_ups_label_sends_an_optional_state_only_when_it_fits_5(state, sent):
    sydney = HANOI | {"state_code": state, "country_code": "AU", "city": "Sydney"}

    reply, shipment = ups_label(sydney, f"s40-au-{state}")

    assert reply.status_code == 201, reply.json()
    assert shipment["ShipTo"]["Address"].get("StateProvinceCode") == sent
