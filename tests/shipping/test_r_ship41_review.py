"""Outside review of ship41 (r-ship41).

- Shippo's address check (POST /addresses, validate) sends the same
  AddressBase as quotes and labels: street1 and street2 "35 character
  limit", no third line sent. Quotes, labels and pickups refuse a longer
  line or a third one; the address check sent them, so a third line was
  dropped and the address still answered valid (its corrected form without
  that line). A state is "required for purchase" only: not asked of a check.
- USPS's address check requires a state for every address (addresses.yaml
  GET /address: state "required: true", a USPS state code such as PR or
  GU); only a US address was checked for one.
- A rate shop: a carrier refused by our own check of its required state
  drops out with failures[].param; the others still quote.
"""

import copy

import pytest
import responses

from shipping.api_examples import ADDRESS_TO, RATE_REQUEST
from tests.shipping.contract import (
    harness_dhl_express,
    harness_fedex,
    harness_shippo,
)
from tests.shipping.helpers import (
    ADDRESSES,
    post_as_writer,
    refused,
    ups_address_check,
    ups_pickup,
    usps_address_check,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
SHIPPO_ADDRESSES = f"{harness_shippo.BASE}/addresses"


def _shippo_check(address: dict):
    account = harness_shippo.make_account()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(SHIPPO_ADDRESSES, json=harness_shippo.load("address_valid.json"))
        reply = post_as_writer({"account": account.slug, "address": address}, ADDRESSES)
        calls = [c for c in mocked.calls if c.request.url == SHIPPO_ADDRESSES]
    return reply, calls


def test_a_shippo_address_check_refuses_a_third_street_line_not_drops_it():
    address = ADDRESS_TO | {"street_lines": ["742 Evergreen Terrace", "Apt 2", "Rear"]}

    reply, calls = _shippo_check(address)

    refused(reply, "address.street_lines", "field_too_long")
    assert calls == []


def test_a_shippo_address_check_refuses_a_street_line_over_35():
    reply, calls = _shippo_check(ADDRESS_TO | {"street_lines": ["7" * 36]})

    refused(reply, "address.street_lines[0]", "field_too_long")
    assert calls == []


def test_a_shippo_address_check_without_a_state_still_asks_shippo():
    # "required for purchase": a check buys nothing.
    reply, calls = _shippo_check(ADDRESS_TO | {"state_code": ""})

    assert reply.status_code == 200, reply.json()
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("country", "city", "postcode"),
    [("PR", "San Juan", "00901"), ("GU", "Hagatna", "96910")],
)
def test_a_usps_address_check_in_a_us_territory_without_a_state_is_a_400(
    country, city, postcode
):
    address = ADDRESS_TO | {
        "state_code": "",
        "country_code": country,
        "city": city,
        "postal_code": postcode,
    }
    reply, calls = usps_address_check(address)

    refused(reply, "address.state_code", "missing_field")
    assert calls == []


def test_a_rate_shop_leaves_out_only_the_carrier_that_requires_the_state():
    harness_fedex.make_account()
    harness_dhl_express.make_account()
    body = copy.deepcopy(RATE_REQUEST)
    body["to_address"]["state_code"] = ""

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness_dhl_express.rates(mocked, None)
        harness_fedex.rates(mocked, None)
        reply = post_as_writer(body)

    assert reply.status_code == 200, reply.json()
    shop = reply.json()
    assert shop["quotes"]
    assert {q["carrier"] for q in shop["quotes"]} == {"DHL Express"}
    [failure] = shop["failures"]
    assert failure["param"] == "to_address.state_code"
    assert failure["code"] == "missing_field"


def test_a_usps_address_check_sends_a_state_name_as_its_code():
    # addresses.yaml GET /address: state minLength and maxLength 2, one of
    # USPS's codes; a name ("Illinois") came back as USPS's own refusal.
    # ship43: a US state's name is sent as its code (it was refused here as
    # field_too_long); one that names no state is invalid_state.
    reply, [call] = usps_address_check(ADDRESS_TO | {"state_code": "Illinois"})

    assert reply.status_code == 200, reply.json()
    assert "state=IL" in call.url


def test_a_ups_pickup_sends_no_empty_state_or_postcode():
    # Pickup.yaml PickupCreationRequest_PickupAddress: StateProvince and
    # PostalCode minLength 1, neither required outside US/CA/VN and postal
    # countries: "" is no value for either, so none is sent (as USPS's).
    hong_kong = {
        "street_lines": ["1 Queen's Road Central"],
        "city": "Hong Kong",
        "state_code": "",
        "postal_code": "",
        "country_code": "HK",
        "phone": "+852 2345 6789",
    }

    reply, [sent] = ups_pickup(hong_kong, "r41-ups-hk")

    assert reply.status_code == 201, reply.json()
    assert "StateProvince" not in sent
    assert "PostalCode" not in sent
    assert sent["City"] == "Hong Kong"


def test_a_ups_address_check_sends_no_empty_state():
    # AddressValidation.yaml AddressKeyFormat.PoliticalDivision1: minLength
    # 1, not required (only CountryCode is): left out when none is given.
    reply, [sent] = ups_address_check(ADDRESS_TO | {"state_code": ""})

    assert reply.status_code == 200, reply.json()
    assert "PoliticalDivision1" not in sent
    assert sent["PostcodePrimaryLow"] == "62704"
