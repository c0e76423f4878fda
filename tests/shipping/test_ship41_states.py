"""States where the carrier requires one, and optional ones it does not take
(ship41).

- UPS Shipping.yaml ShipTo/ShipFrom StateProvinceCode and Pickup.yaml
  PickupAddress.StateProvince: "Required for US, Canada, and Vietnam (VN)".
  A missing one reached UPS and came back as UPS's own text; now a 400
  ``missing_field`` naming the field, for quotes, labels and pickups.
  Ireland is not among them ("If the country or territory is Ireland, the
  StateProvinceCode must contain the county" says what it holds): a county
  longer than Shipping's 5 is left out, as any optional state is.
- FedEx Rate/Ship APIs Address.stateOrProvinceCode: "State code is required
  for US, CA, PR and not required for other countries": the same for quotes,
  labels and pickups (the Pickup API's PickupLocationParty_address requires
  one too).
- DHL MyDHL provinceCode: optional, minLength 2, maxLength 35: a 1-character
  province (Vienna's "9") was sent and refused at DHL; now left out.
"""

import copy
import json

import pytest
import responses

from integrations.models import ProviderCall
from shipping.api_examples import ADDRESS_FROM, PICKUP_REQUEST, RATE_REQUEST
from tests.shipping.contract import harness_dhl_express, harness_fedex
from tests.shipping.helpers import abroad, post_as_writer, ups_pickup
from tests.shipping.state_cases import fedex_pickup, ups_label, ups_quote

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
RATES = "/api/v1/shipping/rates/"
SHIPMENTS = "/api/v1/shipping/shipments/"
PICKUPS = "/api/v1/shipping/pickups/"
FEDEX_PICKUP = f"{harness_fedex.BASE}/pickup/v1/pickups"
DHL_PICKUP = f"{harness_dhl_express.BASE}/pickups"
DHL_RATES = f"{harness_dhl_express.BASE}/rates"
HANOI = {
    "name": "Nguyen Buyer",
    "street_lines": ["1 Trang Tien"],
    "city": "Hanoi",
    "state_code": "VN-44",
    "postal_code": "100000",
    "country_code": "VN",
    "phone": "+84245550123",
}
KILKENNY = HANOI | {
    "city": "Kilkenny",
    "state_code": "Kilkenny",
    "postal_code": "R95 A2KX",
    "country_code": "IE",
}
VIENNA = HANOI | {
    "city": "Vienna",
    "state_code": "9",
    "postal_code": "1010",
    "country_code": "AT",
}


def _missing(reply, param: str) -> None:
    assert reply.status_code == 400, reply.json()
    error = reply.json()["error"]
    assert (error["param"], error["code"]) == (param, "missing_field")
    assert "required" in error["message"]
    assert not ProviderCall.objects.exists()


@pytest.mark.parametrize("side", ["from_address", "to_address"])
def test_a_ups_quote_without_a_us_state_is_a_400_naming_it(side):
    body = copy.deepcopy(RATE_REQUEST)
    body[side]["state_code"] = ""

    reply, sent = ups_quote(body)

    _missing(reply, f"{side}.state_code")
    assert sent is None


def test_a_ups_quote_without_a_canadian_province_is_a_400():
    toronto = HANOI | {
        "city": "Toronto",
        "state_code": "",
        "postal_code": "M5V 3L9",
        "country_code": "CA",
    }

    reply, sent = ups_quote(abroad(toronto))

    _missing(reply, "to_address.state_code")
    assert sent is None


def test_a_ups_label_without_a_vietnamese_province_is_a_400():
    reply, sent = ups_label(HANOI | {"state_code": ""}, "s41-vn-none")

    _missing(reply, "to_address.state_code")
    assert sent is None


def test_a_ups_pickup_without_a_us_state_is_a_400():
    reply, sent = ups_pickup({"state_code": ""}, "s41-up-none")

    _missing(reply, "address.state_code")
    assert sent == []


def test_a_ups_label_leaves_an_irish_county_longer_than_5_out():
    reply, shipment = ups_label(KILKENNY, "s41-ie")

    assert reply.status_code == 201, reply.json()
    assert "StateProvinceCode" not in shipment["ShipTo"]["Address"]


def test_a_ups_quote_leaves_an_irish_county_out_too():
    reply, shipment = ups_quote(abroad(KILKENNY))

    assert reply.status_code == 200, reply.json()
    assert reply.json()["quotes"]
    assert "StateProvinceCode" not in shipment["ShipTo"]["Address"]


def test_a_ups_quote_to_ireland_without_a_county_is_quoted():
    reply, shipment = ups_quote(abroad(KILKENNY | {"state_code": ""}))

    assert reply.status_code == 200, reply.json()
    assert "StateProvinceCode" not in shipment["ShipTo"]["Address"]


@pytest.mark.parametrize(
    ("country", "city", "postcode"),
    [("US", "Memphis", "38118"), ("PR", "San Juan", "00901")],
)
def test_a_fedex_pickup_without_a_state_where_fedex_requires_one_is_a_400(
    country, city, postcode
):
    address = ADDRESS_FROM | {
        "state_code": "",
        "country_code": country,
        "city": city,
        "postal_code": postcode,
        "phone": "+1 901 555 0100",
    }

    reply, calls = fedex_pickup(address, f"s41-fp-{country}")

    _missing(reply, "address.state_code")
    assert calls == []


def test_a_fedex_quote_without_a_us_state_is_a_400():
    harness_fedex.make_account()
    body = copy.deepcopy(RATE_REQUEST)
    body["to_address"]["state_code"] = ""

    with responses.RequestsMock(assert_all_requests_are_fired=False):
        reply = post_as_writer(body)

    _missing(reply, "to_address.state_code")


def test_a_fedex_quote_abroad_without_a_state_is_quoted():
    harness_fedex.make_account()
    body = abroad(VIENNA | {"state_code": ""})

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness_fedex.rates(mocked, None)
        reply = post_as_writer(body)

    assert reply.status_code == 200, reply.json()
    assert reply.json()["quotes"]


def test_a_dhl_quote_leaves_a_province_under_its_minimum_2_out():
    harness_dhl_express.make_account()

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness_dhl_express.rates(mocked, None)
        reply = post_as_writer(abroad(VIENNA))
        [call] = [c for c in mocked.calls if c.request.url == DHL_RATES]

    assert reply.status_code == 200, reply.json()
    receiver = json.loads(call.request.body)["customerDetails"]["receiverDetails"]
    assert "provinceCode" not in receiver
    assert receiver["cityName"] == "Vienna"


def test_a_dhl_pickup_leaves_a_province_under_its_minimum_2_out():
    account = harness_dhl_express.make_account()
    address = VIENNA | {"name": "Wien Lager"}
    body = PICKUP_REQUEST | {"account": account.slug, "address": address}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(
            DHL_PICKUP,
            status=201,
            json=harness_dhl_express.load("pickup_create_response.json"),
        )
        reply = post_as_writer(body, PICKUPS, HTTP_IDEMPOTENCY_KEY="s41-dhl-pickup")
        [call] = [c for c in mocked.calls if c.request.url == DHL_PICKUP]

    assert reply.status_code == 201, reply.json()
    shipper = json.loads(call.request.body)["customerDetails"]["shipperDetails"]
    assert "provinceCode" not in shipper["postalAddress"]
    assert shipper["postalAddress"]["cityName"] == "Vienna"


def test_a_vietnamese_shippers_quote_leaves_its_province_out_of_rating():
    # Rating.yaml ShipFrom StateProvinceCode (minLength and maxLength 2): "A
    # StateProvinceCode and valid account number are required when requesting
    # negotiated rates". A "VN-44" cannot be sent in 2 characters, and the
    # quote is not refused for it (Shipping takes it on the label): left out,
    # UPS prices what it can (a published price is marked so).
    body = copy.deepcopy(RATE_REQUEST)
    body["from_address"] = HANOI | {"name": "Kho Hanoi"}
    body["customs"] = abroad(HANOI)["customs"]

    reply, shipment = ups_quote(body)

    assert reply.status_code == 200, reply.json()
    for party in ("Shipper", "ShipFrom"):
        assert "StateProvinceCode" not in shipment[party]["Address"]
    assert shipment["ShipmentRatingOptions"] == {"NegotiatedRatesIndicator": "Y"}
