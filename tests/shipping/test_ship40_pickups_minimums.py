"""FedEx pickup states, published minimum lengths and USPS pickup ZIP+4s
(ship40).

- FedEx Pickup API (Pickup-Resource.json) Address.stateOrProvinceCode
  "Maximum length is 2": checked as a label's (FEDEX_FIELDS), before the
  pickup was sent whatever the state.
- Minimums: FedEx Ship API PartyContact.phoneNumber "Minimum length is 10",
  Pickup API Contact_CreatePickup.phoneNumber "Minimum Length is 8"; UPS
  Shipping.yaml InternationalForms.Product.CommodityCode minLength 6
  ("6-to-15-alphanumeric commodity code"). A shorter value is a 400
  ``field_too_short`` naming the field, not a refusal at the carrier.
- USPS Carrier Pickup v3 (provider-specs/usps/karrio-samples/
  pickup_request.json): pickupAddress.address has ZIPPlus4 beside ZIPCode;
  a ZIP+4 was cut to its 5 digits and its +4 lost.
"""

import copy

import pytest
import responses

from shipping.api_examples import ADDRESS_FROM, RATE_REQUEST
from tests.shipping.contract import harness_fedex, harness_ups
from tests.shipping.helpers import abroad, post_as_writer, refused, usps_pickup
from tests.shipping.state_cases import fedex_pickup, with_phones_abroad

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
RATES = "/api/v1/shipping/rates/"
PICKUPS = "/api/v1/shipping/pickups/"
FEDEX_PICKUP = f"{harness_fedex.BASE}/pickup/v1/pickups"
SYDNEY = {
    "name": "Bruce Buyer",
    "street_lines": ["1 George Street"],
    "city": "Sydney",
    "state_code": "NSW",
    "postal_code": "2000",
    "country_code": "AU",
    "phone": "+61 2 5550 1234",
}


def _refused(reply, param: str, code: str, words: str) -> None:
    refused(reply, param, code, words)


def test_a_fedex_pickup_required_state_over_2_is_a_400():
    # Canada (required there): a US state of 3 names none, invalid_state
    # before its length (test_ship46_us_state_forms).
    address = ADDRESS_FROM | {
        "city": "Toronto",
        "state_code": "ONT",
        "postal_code": "M5V 2T6",
        "country_code": "CA",
        "phone": "+1 416 555 0100",
    }

    reply, calls = fedex_pickup(address, "s40-fp-state")

    _refused(reply, "address.state_code", "field_too_long", "at most 2 characters")
    assert calls == []


def test_a_fedex_pickup_leaves_an_optional_state_over_2_out():
    # As a label: FedEx requires a state for US, CA and PR only.
    reply, [body] = fedex_pickup(SYDNEY, "s40-fp-au")

    assert reply.status_code == 201, reply.json()
    sent = body["originDetail"]["pickupLocation"]["address"]
    assert "stateOrProvinceCode" not in sent


def test_a_fedex_pickup_phone_under_8_digits_is_a_400():
    address = ADDRESS_FROM | {"phone": "555 0100"}  # 7 digits

    reply, calls = fedex_pickup(address, "s40-fp-short")

    _refused(reply, "address.phone", "field_too_short", "at least 8 digits")
    assert calls == []


def test_a_fedex_quote_with_a_phone_under_10_digits_is_a_400():
    # Ship API PartyContact.phoneNumber "Minimum length is 10": the label
    # would be refused at FedEx, so the quote is refused here.
    harness_fedex.make_account()
    body = copy.deepcopy(RATE_REQUEST)
    body["to_address"]["phone"] = "217 555 019"  # 9 digits

    with responses.RequestsMock(assert_all_requests_are_fired=False):
        reply = post_as_writer(body)

    _refused(reply, "to_address.phone", "field_too_short", "at least 10 digits")


def test_a_fedex_quote_with_a_10_digit_phone_is_quoted():
    harness_fedex.make_account()
    body = copy.deepcopy(RATE_REQUEST)
    body["to_address"]["phone"] = "(217) 555-0199 x12"  # 10 digits, an extension

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness_fedex.rates(mocked, None)
        reply = post_as_writer(body)

    assert reply.status_code == 200, reply.json()
    assert reply.json()["quotes"]


def _abroad_with_hs_code(hs_code: str) -> dict:
    return with_phones_abroad(abroad(SYDNEY, hs_code))  # UPS requires both


def test_a_ups_quote_with_an_hs_code_under_6_is_a_400():
    harness_ups.make_account()

    with responses.RequestsMock(assert_all_requests_are_fired=False):
        reply = post_as_writer(_abroad_with_hs_code("6109"))

    _refused(
        reply, "customs.items[0].hs_code", "field_too_short", "at least 6 characters"
    )


def test_a_ups_quote_without_an_hs_code_is_quoted():
    # CommodityCode is optional on a commercial invoice: none is not short.
    harness_ups.make_account()

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness_ups.rates(mocked, None)
        reply = post_as_writer(_abroad_with_hs_code(""))

    assert reply.status_code == 200, reply.json()
    assert reply.json()["quotes"]


def _usps_pickup(postal_code: str, key: str) -> dict:
    reply, [body] = usps_pickup({"postal_code": postal_code}, key)
    assert reply.status_code == 201, reply.json()
    return body["pickupAddress"]["address"]


@pytest.mark.parametrize("zip4", ["38118-2401", "38118 2401", "381182401"])
def test_a_usps_pickup_sends_a_zip_plus_4_as_zip_code_and_zip_plus_4(zip4):
    sent = _usps_pickup(zip4, f"s40-usps-{zip4[-6:].strip()}")

    assert (sent["ZIPCode"], sent["ZIPPlus4"]) == ("38118", "2401")


def test_a_usps_pickup_sends_a_5_digit_zip_without_zip_plus_4():
    sent = _usps_pickup("38118", "s40-usps-5")

    assert sent["ZIPCode"] == "38118"
    assert "ZIPPlus4" not in sent
