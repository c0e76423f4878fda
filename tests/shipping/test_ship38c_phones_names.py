"""Phone extensions, DHL's name and USPS's pickup instructions, as each
carrier's published spec takes them (ship38c).

UPS Shipping.yaml Shipper/ShipTo/ShipFrom Phone: Number (digits, 15) and
Extension (maxLength 4); Pickup.yaml PickupAddress_Phone.Extension 10. FedEx
Ship API PartyContact.phoneExtension "Maximum length is 6"; Pickup API
Contact_CreatePickup.phoneNumber "Maximum legth is 13", phoneExtension 6.
Sent as digits only, "+1 217 555 0199 x12" dialled 1217555019912: a wrong
number on the label. MyDHL API 2.12.0: fullName maxLength 255, companyName
100; the name goes as companyName only when no company is given.
"""

import copy
import json

import pytest
import responses

from shipping.api_examples import ADDRESS_FROM, RATE_REQUEST
from shipping.models import RateQuote
from tests.shipping.contract import (
    harness_dhl_express,
    harness_fedex,
    harness_ups,
)
from tests.shipping.contract import requests as shared
from tests.shipping.helpers import (
    label_bought,
    post_as_writer,
    quoted_over,
    refused,
    stored_quote,
    ups_pickup,
    usps_pickup,
)
from tests.shipping.state_cases import fedex_pickup

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
FEDEX_PICKUP = f"{harness_fedex.BASE}/pickup/v1/pickups"


def _refused(reply, param: str, limit: str, carrier_name: str) -> None:
    refused(reply, param, "field_too_long", limit, carrier_name)


def _quote(account, carrier: str, service: str, phone: str) -> RateQuote:
    recipient = shared.RECIPIENT.__class__(
        **{**shared.RECIPIENT.__dict__, "phone": phone}
    )
    return stored_quote(
        account,
        shared.rate_request(to_address=recipient),
        fingerprint="c" * 64,
        carrier=carrier,
        service_code=service,
        service_name=service,
    )


@pytest.mark.parametrize("phone", ["+1 217 555 0199 x12", "+1 217 555 0199 ext. 12"])
def test_a_ups_label_sends_the_extension_as_phone_extension(phone):
    quote = _quote(harness_ups.make_account(), "ups", "03", phone)

    reply, [ship] = label_bought(harness_ups, quote, "c-u")

    assert reply.status_code == 201, reply.json()
    ship_to = json.loads(ship.request.body)["ShipmentRequest"]["Shipment"]["ShipTo"]
    assert ship_to["Phone"] == {"Number": "12175550199", "Extension": "12"}


def test_a_fedex_label_sends_the_extension_as_phone_extension():
    quote = _quote(
        harness_fedex.make_account(), "fedex", "FEDEX_GROUND", "+1 217 555 0199 ext. 12"
    )

    reply, [call] = label_bought(harness_fedex, quote, "c-f")

    assert reply.status_code == 201, reply.json()
    contact = json.loads(call.request.body)["requestedShipment"]["recipients"][0][
        "contact"
    ]
    assert (contact["phoneNumber"], contact["phoneExtension"]) == ("12175550199", "12")


@pytest.mark.parametrize(
    ("harness", "extension", "limit", "carrier_name"),
    [(harness_ups, "12345", 4, "UPS"), (harness_fedex, "1234567", 6, "FedEx")],
    ids=["ups", "fedex"],
)
def test_an_extension_too_long_is_a_400_naming_the_phone(
    harness, extension, limit, carrier_name
):
    harness.make_account()
    body = copy.deepcopy(RATE_REQUEST)
    body["to_address"]["phone"] = f"+1 217 555 0199 x{extension}"

    with responses.RequestsMock(assert_all_requests_are_fired=False):
        reply = post_as_writer(body)

    _refused(reply, "to_address.phone", f"at most {limit} digits", carrier_name)


def test_the_phone_limit_is_counted_on_the_number_not_its_extension():
    # 12 digits of number and a 4-digit extension: 16 digits run together,
    # beyond UPS's 15, yet each field fits.
    harness_ups.make_account()
    body = copy.deepcopy(RATE_REQUEST)
    body["to_address"]["phone"] = "+44 20 7946 0958 ext 1234"

    reply = quoted_over(harness_ups, body)

    assert reply.status_code == 200, reply.json()
    assert reply.json()["quotes"]


def test_a_ups_pickup_sends_the_extension_as_phone_extension():
    reply, [sent] = ups_pickup({"phone": "+1 901 555 0100 x7"}, "c-up")

    assert reply.status_code == 201, reply.json()
    assert sent["Phone"] == {"Number": "+1 901 555 0100", "Extension": "7"}


def _fedex_pickup(phone: str, key: str):
    return fedex_pickup({**ADDRESS_FROM, "phone": phone}, key)


def test_a_fedex_pickup_sends_the_phone_digits_and_extension():
    reply, [body] = _fedex_pickup("+1 (901) 555-0100 ext. 42", "c-fp")

    assert reply.status_code == 201, reply.json()
    contact = body["originDetail"]["pickupLocation"]["contact"]
    assert (contact["phoneNumber"], contact["phoneExtension"]) == ("19015550100", "42")


def test_a_fedex_pickup_phone_over_13_digits_is_a_400():
    # Contact_CreatePickup.phoneNumber: "Maximum legth is 13" (the Ship API's 15
    # does not apply to a pickup).
    reply, calls = _fedex_pickup("+49 30 5550 123456", "c-fp14")

    _refused(reply, "address.phone", "at most 13 characters", "FedEx")
    assert calls == []


def test_a_dhl_name_over_100_with_a_company_goes_as_full_name():
    harness_dhl_express.make_account()
    body = copy.deepcopy(RATE_REQUEST)
    body["to_address"] |= {"name": "N" * 120, "company": "Buyer Co"}

    reply = quoted_over(harness_dhl_express, body)

    assert reply.status_code == 200, reply.json()
    assert reply.json()["quotes"]


def test_a_dhl_name_over_100_without_a_company_is_still_a_400():
    # Sent as companyName too (maxLength 100).
    harness_dhl_express.make_account()
    body = copy.deepcopy(RATE_REQUEST)
    body["to_address"] |= {"name": "N" * 101, "company": ""}

    with responses.RequestsMock(assert_all_requests_are_fired=False):
        reply = post_as_writer(body)

    _refused(reply, "to_address.name", "at most 100 characters", "DHL Express")


def test_usps_pickup_instructions_are_sent_whole():
    # No published length for USPS's v3 Carrier Pickup API could be cited:
    # sent whole, never cut silently.
    reply, [body] = usps_pickup({}, "c-usps", instructions="I" * 150)

    assert reply.status_code == 201, reply.json()
    sent = body["pickupLocation"]["specialInstructions"]
    assert sent == "I" * 150
