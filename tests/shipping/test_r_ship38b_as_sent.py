"""Limits checked on the form each carrier is sent, not on the buyer's text
(review of ship38b).

FedEx's Rate API (RateQuotes-Resource.json, Address.stateOrProvinceCode):
"State code is required for US, CA, PR and not required for other countries.
Conditional. Max length is 2." An Australian "NSW" is left out, as UPS's
rule does (ups_address), not a reason to leave FedEx out. FedEx's Ship API
(PartyContact.phoneNumber): "For US and CA, a phone number must have exactly
10 digits, plus an optional leading country code of '1' or '+1'": the digits
are sent and counted. UPS Pickup.yaml PickupAddress.PostalCode: maxLength 8
(its examples a 5-digit ZIP, '07401'): a US ZIP+4 goes as its 5-digit ZIP.
"""

import copy
import json

import pytest
import responses

from shipping.api_examples import ADDRESS_FROM, PICKUP_REQUEST, RATE_REQUEST
from shipping.models import RateQuote
from tests.shipping.contract import harness_fedex, harness_ups
from tests.shipping.contract import requests as shared
from tests.shipping.helpers import (
    ADDRESSES,
    CUSTOMS,
    PICKUPS,
    SYDNEY,
    label_bought,
    post_as_writer,
    quoted_over,
    stored_quote,
    ups_address_check,
    ups_pickup,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]


def test_fedex_quotes_to_nsw_with_the_state_left_out():
    harness_fedex.make_account()
    # A phone: FedEx's label requires the recipient's (ship45).
    to_address = SYDNEY | {"phone": "+61 2 5550 1234"}
    body = copy.deepcopy(RATE_REQUEST) | {"to_address": to_address, "customs": CUSTOMS}

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness_fedex.rates(mocked, None)
        reply = post_as_writer(body)
        [call] = [c for c in mocked.calls if c.request.url == harness_fedex.RATES_URL]

    assert reply.status_code == 200, reply.json()
    assert reply.json()["quotes"]
    sent = json.loads(call.request.body)["requestedShipment"]["recipient"]["address"]
    assert "stateOrProvinceCode" not in sent
    assert sent["postalCode"] == "2000"


def test_a_required_state_too_long_for_fedex_is_still_a_400():
    # Required for US, CA and PR: sent as given, so checked as given (a
    # Canadian province: a US state of 3 names none, invalid_state first).
    harness_fedex.make_account()
    body = copy.deepcopy(RATE_REQUEST) | {"customs": copy.deepcopy(CUSTOMS)}
    body["to_address"] |= {
        "city": "Toronto",
        "state_code": "ONT",
        "postal_code": "M5V 2T6",
        "country_code": "CA",
    }

    with responses.RequestsMock(assert_all_requests_are_fired=False):
        reply = post_as_writer(body)

    assert reply.status_code == 400, reply.json()
    error = reply.json()["error"]
    assert (error["param"], error["code"]) == (
        "to_address.state_code",
        "field_too_long",
    )


def test_a_fedex_quote_with_a_formatted_phone_is_quoted():
    # "+1 (217) 555-0199" is 17 characters, 11 digits: FedEx takes the digits.
    harness_fedex.make_account()
    body = copy.deepcopy(RATE_REQUEST)
    body["to_address"]["phone"] = "+1 (217) 555-0199"

    reply = quoted_over(harness_fedex, body)

    assert reply.status_code == 200, reply.json()
    assert reply.json()["quotes"]


def _fedex_quote(request) -> RateQuote:
    return stored_quote(
        harness_fedex.make_account(),
        request,
        fingerprint="e" * 64,
        carrier="fedex",
        service_code="FEDEX_GROUND",
        service_name="FedEx Ground",
    )


def test_a_fedex_label_sends_the_phone_digits_it_counted():
    recipient = shared.RECIPIENT.__class__(
        **{**shared.RECIPIENT.__dict__, "phone": "+1 (217) 555-0199"}
    )
    quote = _fedex_quote(shared.rate_request(to_address=recipient))

    reply, [call] = label_bought(harness_fedex, quote, "rs38b-ph")

    assert reply.status_code == 201, reply.json()
    shipment = json.loads(call.request.body)["requestedShipment"]
    assert shipment["recipients"][0]["contact"]["phoneNumber"] == "12175550199"
    assert shipment["shipper"]["contact"]["phoneNumber"] == "19015550100"


def test_a_ups_pickup_at_a_zip_plus_4_is_booked_with_the_5_digit_zip():
    reply, [sent] = ups_pickup({"postal_code": "38118-1234"}, "rs38b-zip4")

    assert reply.status_code == 201, reply.json()
    assert sent["PostalCode"] == "38118"


def test_a_ups_pickup_postcode_too_long_abroad_is_still_a_400():
    account = harness_ups.make_account()
    address = {**ADDRESS_FROM, "country_code": "GB", "postal_code": "SW1A 1AAA9"}
    body = PICKUP_REQUEST | {"account": account.slug, "address": address}

    with responses.RequestsMock(assert_all_requests_are_fired=False):
        reply = post_as_writer(body, PICKUPS, HTTP_IDEMPOTENCY_KEY="rs38b-gb")

    assert reply.status_code == 400, reply.json()
    error = reply.json()["error"]
    assert (error["param"], error["code"]) == ("address.postal_code", "field_too_long")


def test_a_pickup_refused_for_a_field_leaves_no_failed_booking_behind():
    # Checked before a row is written, as check_pickup is: a pickup refused
    # at our API is no failed booking in the pickups list; the fix books.
    from shipping.models import Pickup

    account = harness_ups.make_account()
    long_company = {**ADDRESS_FROM, "company": "C" * 28}
    body = PICKUP_REQUEST | {"account": account.slug, "address": long_company}

    with responses.RequestsMock(assert_all_requests_are_fired=False):
        refused = post_as_writer(body, PICKUPS, HTTP_IDEMPOTENCY_KEY="rs38b-fix")

    assert refused.status_code == 400, refused.json()
    assert not Pickup.objects.exists()

    booked, _sent = ups_pickup({"company": "C" * 27}, "rs38b-fix2")

    assert booked.status_code == 201, booked.json()
    assert [p.status for p in Pickup.objects.all()] == ["scheduled"]


def _ups_check(address: dict) -> dict:
    reply, [sent] = ups_address_check(address)
    assert reply.status_code == 200, reply.json()
    return sent


def test_a_ups_address_check_sends_a_canadian_postcode_whole():
    # AddressValidation.yaml PostcodePrimaryLow: "Postal Code", maxLength 10.
    ottawa = {
        **ADDRESS_FROM,
        "city": "Ottawa",
        "state_code": "ON",
        "postal_code": "K1A 0B1",
        "country_code": "CA",
    }

    sent = _ups_check(ottawa)

    assert sent["PostcodePrimaryLow"] == "K1A 0B1"


def test_a_ups_address_check_sends_a_zip_plus_4_as_its_two_parts():
    # PostcodeExtendedLow: "4 digit Postal Code extension. For US use only."
    sent = _ups_check({**ADDRESS_FROM, "postal_code": "38118-1234"})

    assert (sent["PostcodePrimaryLow"], sent["PostcodeExtendedLow"]) == (
        "38118",
        "1234",
    )


def test_a_ups_address_check_with_a_postcode_over_10_is_a_400_not_a_cut_one():
    account = harness_ups.make_account()
    address = {**ADDRESS_FROM, "country_code": "GB", "postal_code": "P" * 11}

    with responses.RequestsMock(assert_all_requests_are_fired=False):
        reply = post_as_writer({"account": account.slug, "address": address}, ADDRESSES)

    assert reply.status_code == 400, reply.json()
    error = reply.json()["error"]
    assert (error["param"], error["code"]) == ("address.postal_code", "field_too_long")
