"""USPS address checks and customs lines (ship41).

- Addresses v3 GET /address (karrio's vendored addresses.yaml 3.2.3; USPS/
  api-examples README "Address"): ZIPCode "^\\d{5}$" and ZIPPlus4 "^\\d{4}$".
  A ZIP+4 was cut to its ZIP and its 4 digits lost; now sent as both, as a
  label's and a pickup's are.
- Its answer's JSON names are ``additionalInfo`` and ``corrections``
  (``addressAdditionalInfo`` is only the XML element's name): the adapter
  read the XML name, so a confirmed address (DPVConfirmation "Y") came back
  as not valid.
- The address check requires a state (addresses.yaml: state "required:
  true"): none given is a 400 missing_field here, not USPS's refusal.
- Carrier Pickup: an empty state, second line or ZIPCode was sent as "" (a
  state has minLength 2): left out now, as a label's are.
- International labels: an item without an HS code sends no HSTariffNumber
  (it already held; kept here beside the rest).
"""

from dataclasses import replace

import pytest

from shipping.api_examples import ADDRESS_TO
from tests.shipping.contract import harness_usps
from tests.shipping.contract import requests as shared
from tests.shipping.helpers import (
    usps_address_check,
    usps_international_label,
    usps_pickup,
)
from tests.shipping.providers.wire import load

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
ADDRESS_URL = f"{harness_usps.BASE}/addresses/v3/address"


def _check(address: dict, answer: dict):
    return usps_address_check(address, answer)


@pytest.mark.parametrize("zip4", ["62704-1234", "62704 1234", "627041234"])
def test_a_usps_address_check_sends_a_zip_plus_4_as_zip_code_and_zip_plus_4(zip4):
    reply, [call] = _check(
        ADDRESS_TO | {"postal_code": zip4}, load("usps", "address_response.json")
    )

    assert reply.status_code == 200, reply.json()
    assert "ZIPCode=62704&" in call.url or call.url.endswith("ZIPCode=62704")
    assert "ZIPPlus4=1234" in call.url


def test_a_usps_address_check_sends_a_5_digit_zip_without_zip_plus_4():
    reply, [call] = _check(ADDRESS_TO, load("usps", "address_response.json"))

    assert reply.status_code == 200, reply.json()
    assert "ZIPPlus4" not in call.url


def test_a_confirmed_usps_address_is_valid_and_no_empty_correction_is_listed():
    # The answer as USPS/api-examples' README shows it: corrections holds
    # one empty entry when nothing was corrected.
    reply, _ = _check(ADDRESS_TO, load("usps", "address_response.json"))

    assert reply.status_code == 200, reply.json()
    checked = reply.json()
    assert checked["valid"] is True
    assert checked["residential"] is True
    assert checked["address"]["postal_code"] == "62704-1234"
    assert checked["messages"] == []


def test_a_usps_correction_text_is_listed():
    answer = load("usps", "address_response.json")
    answer["corrections"] = [{"code": "32", "text": "Default address: more info"}]
    answer["additionalInfo"]["DPVConfirmation"] = "D"

    reply, _ = _check(ADDRESS_TO, answer)

    assert reply.status_code == 200, reply.json()
    assert reply.json()["valid"] is False
    assert reply.json()["messages"] == ["Default address: more info"]


def test_a_usps_international_label_sends_no_hs_tariff_number_without_an_hs_code():
    item = replace(shared.CUSTOMS.items[0], hs_code="")
    customs = replace(shared.CUSTOMS, items=(item,))

    body = usps_international_label(customs=customs)

    [line] = body["customsForm"]["contents"]
    assert "HSTariffNumber" not in line
    assert line["countryofOrigin"] == "US"


def test_a_usps_address_check_without_a_state_is_a_400():
    # addresses.yaml GET /address: state "required: true" (2 characters).
    reply, calls = _check(
        ADDRESS_TO | {"state_code": ""}, load("usps", "address_response.json")
    )

    assert reply.status_code == 400, reply.json()
    error = reply.json()["error"]
    assert (error["param"], error["code"]) == ("address.state_code", "missing_field")
    assert calls == []


def test_a_usps_pickup_sends_no_empty_state_or_second_line():
    # carrier-pickup.yaml DomesticAddress: state minLength 2 (a pattern of
    # state names), secondaryAddress optional: none given, none sent, not "".
    reply, [body] = usps_pickup({"state_code": ""}, "s41-usps-pickup")

    assert reply.status_code == 201, reply.json()
    sent_address = body["pickupAddress"]["address"]
    assert sent_address == {
        "streetAddress": "1 Dock Road",
        "city": "Memphis",
        "ZIPCode": "38118",
    }
