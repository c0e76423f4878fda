"""FedEx's and DHL Express's published field limits, and UPS's for pickups
and address checks, checked at our API instead of cut in the adapter.

The numbers are from the carriers' published OpenAPI files (field_limits.py
names each): a value too long is a 400 ``field_too_long`` naming the field,
nothing sent; in a shop, that carrier is left out with its reason. Before,
DHL cut address lines to 45 characters, UPS pickups the company to 27, the
contact to 22 and the joined street to 73, UPS's address check the name to
40: a label, booking or check of cut text. (FedEx's 450 and DHL's 512 for a
customs description are above the 255 our API takes: no test reaches them.)
"""

import copy
import json

import pytest
import responses

from shipping.api_examples import ADDRESS_FROM, PICKUP_REQUEST, RATE_REQUEST
from tests.shipping.contract import harness_dhl_express, harness_fedex, harness_ups
from tests.shipping.helpers import (
    ADDRESSES,
    PICKUPS,
    carrier,
    post_as_writer,
    refused,
    ups_address_check,
    ups_pickup,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
DHL = harness_dhl_express.BASE


def _rate_body(side: str = "to_address", **change) -> dict:
    body = copy.deepcopy(RATE_REQUEST)
    body[side].update(change)
    return body


def _refused(reply, param: str, limit: int, carrier_name: str) -> None:
    words = (f"at most {limit} characters", carrier_name)
    refused(reply, param, "field_too_long", *words)


# --- DHL Express (MyDHL API 2.12.0) -------------------------------------------

DHL_TOO_LONG = [
    ("to_address", "street_lines", ["7" * 46], "to_address.street_lines[0]", 45),
    ("from_address", "city", "C" * 46, "from_address.city", 45),
    ("to_address", "postal_code", "1" * 13, "to_address.postal_code", 12),
]


@pytest.mark.parametrize(
    ("side", "field", "value", "param", "limit"),
    DHL_TOO_LONG,
    ids=[case[3] for case in DHL_TOO_LONG],
)
def test_a_dhl_quote_with_a_field_too_long_is_a_400_not_a_cut_line(
    side, field, value, param, limit
):
    harness_dhl_express.make_account()

    with responses.RequestsMock(assert_all_requests_are_fired=False):  # nothing out
        reply = post_as_writer(_rate_body(side, **{field: value}))

    _refused(reply, param, limit, "DHL Express")


def test_a_45_character_line_goes_to_dhl_whole():
    harness_dhl_express.make_account()
    line = "7" * 45

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(f"{DHL}/rates", json=harness_dhl_express.load("rate_response.json"))
        reply = post_as_writer(_rate_body(street_lines=[line]))
        sent = json.loads(mocked.calls[0].request.body)

    assert reply.status_code == 200, reply.json()
    assert sent["customerDetails"]["receiverDetails"]["addressLine1"] == line


def test_a_shop_leaves_dhl_out_with_its_reason_and_the_others_quote():
    dhl = harness_dhl_express.make_account()
    carrier("post")

    with responses.RequestsMock(assert_all_requests_are_fired=False):
        reply = post_as_writer(_rate_body(street_lines=["7" * 46]))

    assert reply.status_code == 200, reply.json()
    assert reply.json()["quotes"]
    [failure] = reply.json()["failures"]
    assert (failure["account"], failure["code"]) == (dhl.slug, "field_too_long")
    assert "to_address.street_lines[0]" in failure["message"]
    assert "45 characters" in failure["message"]


def test_a_dhl_pickup_with_a_line_too_long_is_a_400_and_not_booked():
    account = harness_dhl_express.make_account()
    address = {**ADDRESS_FROM, "street_lines": ["7" * 46]}
    body = PICKUP_REQUEST | {"account": account.slug, "address": address}

    with responses.RequestsMock(assert_all_requests_are_fired=False):
        reply = post_as_writer(body, PICKUPS, HTTP_IDEMPOTENCY_KEY="s38b-dhl-pickup")

    _refused(reply, "address.street_lines[0]", 45, "DHL Express")


# --- FedEx (Ship API, Rate API) -------------------------------------------------

FEDEX_TOO_LONG = [
    ("to_address", "street_lines", ["7" * 36], "to_address.street_lines[0]", 35),
    ("to_address", "city", "S" * 36, "to_address.city", 35),
    ("from_address", "company", "C" * 36, "from_address.company", 35),
    ("to_address", "name", "N" * 71, "to_address.name", 70),
    ("to_address", "postal_code", "1" * 11, "to_address.postal_code", 10),
]


@pytest.mark.parametrize(
    ("side", "field", "value", "param", "limit"),
    FEDEX_TOO_LONG,
    ids=[case[3] for case in FEDEX_TOO_LONG],
)
def test_a_fedex_quote_with_a_field_too_long_is_a_400(side, field, value, param, limit):
    harness_fedex.make_account()

    with responses.RequestsMock(assert_all_requests_are_fired=False):
        reply = post_as_writer(_rate_body(side, **{field: value}))

    _refused(reply, param, limit, "FedEx")


# --- UPS pickups (Pickup.yaml) and address checks (AddressValidation.yaml) ----

UPS_PICKUP_TOO_LONG = [
    ("company", "C" * 28, "address.company", 27),
    ("name", "N" * 23, "address.name", 22),
    # one AddressLine of 73: the lines are sent joined by a space
    ("street_lines", ["7" * 40, "8" * 33], "address.street_lines[0]", 73),
]


@pytest.mark.parametrize(
    ("field", "value", "param", "limit"),
    UPS_PICKUP_TOO_LONG,
    ids=[case[2] for case in UPS_PICKUP_TOO_LONG],
)
def test_a_ups_pickup_with_a_field_too_long_is_a_400_not_a_cut_one(
    field, value, param, limit
):
    account = harness_ups.make_account()
    address = {**ADDRESS_FROM, field: value}
    body = PICKUP_REQUEST | {"account": account.slug, "address": address}

    with responses.RequestsMock(assert_all_requests_are_fired=False):
        reply = post_as_writer(body, PICKUPS, HTTP_IDEMPOTENCY_KEY=f"s38b-{field}")

    _refused(reply, param, limit, "UPS")


def test_a_ups_pickup_within_the_limits_is_booked_with_the_text_whole():
    changes = {"company": "C" * 27, "name": "N" * 22}
    reply, [sent] = ups_pickup(changes, "s38b-ups-ok")

    assert reply.status_code == 201, reply.json()
    assert (sent["CompanyName"], sent["ContactName"]) == ("C" * 27, "N" * 22)


def test_a_ups_address_check_with_a_name_over_40_is_a_400_not_a_cut_one():
    account = harness_ups.make_account()
    address = {**ADDRESS_FROM, "name": "N" * 41}

    with responses.RequestsMock(assert_all_requests_are_fired=False):
        reply = post_as_writer({"account": account.slug, "address": address}, ADDRESSES)

    _refused(reply, "address.name", 40, "UPS")


def test_a_ups_address_check_within_the_limits_goes_out():
    reply, [sent] = ups_address_check({**ADDRESS_FROM, "name": "N" * 40})

    assert reply.status_code == 200, reply.json()
    assert sent["ConsigneeName"] == "N" * 40


# --- A pickup's instructions: each carrier's pickup API publishes a length ----

INSTRUCTIONS_TOO_LONG = [
    (harness_ups, 58, 57, "UPS"),  # Pickup.yaml SpecialInstruction
    (harness_dhl_express, 81, 80, "DHL Express"),  # specialInstructions.value
    (harness_fedex, 61, 60, "FedEx"),  # Pickup API remarks
]


@pytest.mark.parametrize(
    ("harness", "length", "limit", "carrier_name"),
    INSTRUCTIONS_TOO_LONG,
    ids=[case[3] for case in INSTRUCTIONS_TOO_LONG],
)
def test_pickup_instructions_too_long_are_a_400_not_cut(
    harness, length, limit, carrier_name
):
    account = harness.make_account()
    body = PICKUP_REQUEST | {"account": account.slug, "instructions": "I" * length}

    with responses.RequestsMock(assert_all_requests_are_fired=False):
        reply = post_as_writer(body, PICKUPS, HTTP_IDEMPOTENCY_KEY=f"s38b-i-{limit}")

    _refused(reply, "instructions", limit, carrier_name)
