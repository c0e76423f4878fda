"""Pickup addresses where the pickup spec requires a state (ship42).

- FedEx Pickup API (pickup-api.json, karrio vendors it):
  PickupLocationParty_address lists stateOrProvinceCode (and postalCode) in
  "required" with no condition; ship42 refused a pickup without one. The
  Address it refines says a postcode is "required for postal-aware
  countries" and the Ship API a state "required for US, CA, PR": the list
  is looser than the rules, so the lead kept the label rule (a US pickup
  without a state is a 400, one abroad is booked, an optional state over 2
  left out).
- Shippo public-api.yaml: a pickup's location address is
  AddressPickupCompleteCreateRequest, whose AddressCompleteCreateRequest
  requires name, street1, city, state, zip and country: a pickup without a
  state outside US/AU/CA, or without a postcode (Ireland, Hong Kong), was
  sent without them. Now a 400 missing_field.
"""

from dataclasses import replace
from datetime import date, time

import pytest
import responses

from shipping.api_examples import ADDRESS_FROM
from shipping.providers.base import PickupRequest
from shipping.providers.shippo import ShippoAdapter
from shipping.providers.validation import InvalidShippingRequest
from tests.factories import ProviderAccountFactory
from tests.shipping.contract import requests as shared
from tests.shipping.helpers import refused
from tests.shipping.providers.wire import body_of, load, sent
from tests.shipping.state_cases import fedex_pickup

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
SHIPPO_PICKUPS = "https://api.goshippo.com/pickups/"
LONDON = ADDRESS_FROM | {
    "city": "London",
    "state_code": "",
    "postal_code": "SW1A 1AA",
    "country_code": "GB",
    "phone": "+44 20 7946 0958",
}


def _refused(reply, param: str, code: str) -> None:
    refused(reply, param, code, "FedEx")


# The lead reverted ship42's "a FedEx pickup needs a state in every country":
# the Pickup API's required list also names postalCode, which its Address
# says is for postal-aware countries only; read literally it would refuse
# every pickup in London or Sydney. A pickup follows the label rule.
def test_a_fedex_pickup_abroad_without_a_state_is_booked_without_one():
    reply, [call] = fedex_pickup(LONDON, "s42-fp-gb")

    assert reply.status_code == 201, reply.json()
    address = call["originDetail"]["pickupLocation"]["address"]
    assert "stateOrProvinceCode" not in address


def test_a_fedex_pickup_optional_state_longer_than_2_is_left_out():
    reply, [call] = fedex_pickup(LONDON | {"state_code": "LND"}, "s42-fp-lnd")

    assert reply.status_code == 201, reply.json()
    address = call["originDetail"]["pickupLocation"]["address"]
    assert "stateOrProvinceCode" not in address


def test_a_fedex_pickup_in_the_us_without_a_state_is_still_a_400():
    us = LONDON | {"country_code": "US", "city": "Memphis", "postal_code": "38118"}
    reply, calls = fedex_pickup(us, "s42-fp-us")

    _refused(reply, "address.state_code", "missing_field")
    assert calls == []


def test_a_fedex_pickup_abroad_with_a_state_of_2_sends_it():
    reply, [call] = fedex_pickup(LONDON | {"state_code": "LN"}, "s42-fp-ln")

    assert reply.status_code == 201, reply.json()
    address = call["originDetail"]["pickupLocation"]["address"]
    assert address["stateOrProvinceCode"] == "LN"


@pytest.fixture
def shippo():
    return ProviderAccountFactory(
        kind="shipping",
        provider="shippo",
        slug="shippo-s42",
        settings={"max_attempts": 1, "pickup_timezone": "Europe/London"},
        credentials={"api_token": "shippo_test_token", "webhook_token": "hook"},
    )


def _shippo_request(**address_changes) -> PickupRequest:
    return PickupRequest(
        address=replace(shared.SHIPPER, **address_changes),
        pickup_date=date(2025, 5, 12),
        ready_time=time(9, 0),
        close_time=time(17, 0),
        parcel_count=1,
        total_weight=shared.PARCEL.weight,
        idempotency_key="s42-shippo-pickup",
        carrier_shipment_ids=("915d94940ea54c3a80cbfa328722f5a1",),
        carrier_account="078870331023437cb917f5187429b093",
    )


@pytest.mark.parametrize(
    ("changes", "param"),
    [
        (
            {"country_code": "GB", "state_code": "", "postal_code": "SW1A 1AA"},
            "address.state_code",
        ),
        (
            {"country_code": "IE", "state_code": "KK", "postal_code": ""},
            "address.postal_code",
        ),
    ],
)
def test_a_shippo_pickup_without_a_state_or_zip_is_refused(shippo, changes, param):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        with pytest.raises(InvalidShippingRequest) as refused:
            ShippoAdapter(shippo).schedule_pickup(_shippo_request(**changes))
        assert sent(mocked, "POST", SHIPPO_PICKUPS) == []

    assert (refused.value.param, refused.value.code) == (param, "missing_field")
    assert "Shippo" in refused.value.message


def test_a_shippo_pickup_abroad_with_state_and_zip_is_booked(shippo):
    request = _shippo_request(
        country_code="GB", state_code="LND", postal_code="SW1A 1AA"
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(
            SHIPPO_PICKUPS, status=201, json=load("shippo", "pickup_confirmed.json")
        )
        ShippoAdapter(shippo).schedule_pickup(request)
        [call] = sent(mocked, "POST", SHIPPO_PICKUPS)

    address = body_of(call)["location"]["address"]
    assert (address["state"], address["zip"]) == ("LND", "SW1A 1AA")
