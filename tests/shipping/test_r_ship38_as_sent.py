"""UPS's field limits are checked on what the adapter SENDS, not on the
buyer's raw text: a US ZIP+4 written with its hyphen is sent as UPS's 9
digits (Shipping.yaml: "5 or 9 digits ... '-' may be used to separate"), a
phone as its digits ("Valid values are 0 - 9"), and a state UPS does not use
outside US/CA/VN/IE ("Required for US, Canada, and Vietnam (VN)") is not sent
when longer than Rating's 2 characters, so it does not leave UPS out."""

import copy
import json

import pytest
import responses

from integrations.models import ProviderCall
from shipping.api_examples import RATE_REQUEST
from tests.shipping.contract import harness_ups
from tests.shipping.helpers import (
    CUSTOMS,
    RATES,
    SYDNEY,
    api_client,
    label_bought,
    stored_quote,
)
from tests.shipping.state_cases import with_phones_abroad

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
# The shared Sydney buyer, with a phone.
AU_BUYER = {**SYDNEY, "phone": "+61255501234"}


def _quote_at_ups(body: dict) -> tuple[object, dict | None]:
    """The API's answer and the Rating body UPS got (None: not called)."""
    harness_ups.make_account()
    api = api_client("shipping:read")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness_ups.rates(mocked, None)
        reply = api.post(RATES, with_phones_abroad(body), format="json")
        sent = [
            json.loads(call.request.body)
            for call in mocked.calls
            if call.request.url == harness_ups.RATES_URL
        ]
    return reply, sent[0]["RateRequest"]["Shipment"] if sent else None


@pytest.mark.parametrize("zip4", ["62704-1234", "62704 1234"])
def test_a_us_zip_plus_4_with_its_separator_is_quoted_at_ups_as_9_digits(zip4):
    body = copy.deepcopy(RATE_REQUEST)
    body["to_address"]["postal_code"] = zip4

    reply, shipment = _quote_at_ups(body)

    assert reply.status_code == 200, reply.json()
    assert reply.json()["quotes"]
    assert reply.json()["failures"] == []
    assert shipment["ShipTo"]["Address"]["PostalCode"] == "627041234"


def test_an_australian_state_ups_does_not_use_does_not_leave_ups_out():
    body = copy.deepcopy(RATE_REQUEST)
    body["to_address"] = copy.deepcopy(AU_BUYER)
    body["customs"] = copy.deepcopy(CUSTOMS)

    reply, shipment = _quote_at_ups(body)

    assert reply.status_code == 200, reply.json()
    assert reply.json()["quotes"]
    assert "StateProvinceCode" not in shipment["ShipTo"]["Address"]
    # The US shipper's state is still sent: UPS requires it there.
    assert shipment["Shipper"]["Address"]["StateProvinceCode"] == "TN"


def test_a_us_state_longer_than_ups_takes_is_still_refused():
    body = copy.deepcopy(RATE_REQUEST)
    body["to_address"]["state_code"] = "ILL"

    reply, shipment = _quote_at_ups(body)

    assert reply.status_code == 400, reply.json()
    assert reply.json()["error"]["param"] == "to_address.state_code"
    assert shipment is None
    assert not ProviderCall.objects.exists()


def test_a_phone_written_with_spaces_and_signs_is_checked_as_its_digits():
    # "+1 (217) 555-0199": 17 characters, 11 digits: UPS takes 15 digits.
    body = copy.deepcopy(RATE_REQUEST)
    body["to_address"]["phone"] = "+1 (217) 555-0199"

    reply, _ = _quote_at_ups(body)

    assert reply.status_code == 200, reply.json()
    assert reply.json()["quotes"]


def test_a_zip_too_long_even_as_sent_is_refused_naming_the_field():
    body = copy.deepcopy(RATE_REQUEST)
    body["to_address"]["postal_code"] = "62704-12345"  # 10 digits

    reply, shipment = _quote_at_ups(body)

    assert reply.status_code == 400, reply.json()
    error = reply.json()["error"]
    assert (error["param"], error["code"]) == (
        "to_address.postal_code",
        "field_too_long",
    )
    assert "62704" not in error["message"]
    assert shipment is None


def test_a_label_at_ups_is_bought_with_the_zip_and_phone_as_ups_takes_them():
    from tests.shipping.contract import requests as shared

    recipient = shared.RECIPIENT.__class__(
        **{
            **shared.RECIPIENT.__dict__,
            "postal_code": "62704-1234",
            "phone": "+1 (217) 555-0199",
        }
    )
    quote = stored_quote(
        harness_ups.make_account(),
        shared.rate_request(to_address=recipient),
        fingerprint="f" * 64,
        carrier="ups",
        service_code="03",
        service_name="UPS Ground",
    )

    reply, [ship] = label_bought(harness_ups, quote, "r-s38-label")

    assert reply.status_code == 201, reply.json()
    ship_to = json.loads(ship.request.body)["ShipmentRequest"]["Shipment"]["ShipTo"]
    assert ship_to["Address"]["PostalCode"] == "627041234"
    assert ship_to["Phone"]["Number"] == "12175550199"


def test_a_canadian_postcode_is_sent_to_ups_as_its_six_characters():
    # Shipping.yaml: CA "6 alphanumeric characters ... A#A#A#".
    body = copy.deepcopy(RATE_REQUEST)
    body["to_address"] = {
        **AU_BUYER,
        "city": "Ottawa",
        "state_code": "ON",
        "postal_code": "k1a 0b1",
        "country_code": "CA",
    }
    body["customs"] = copy.deepcopy(CUSTOMS)

    reply, shipment = _quote_at_ups(body)

    assert reply.status_code == 200, reply.json()
    address = shipment["ShipTo"]["Address"]
    assert (address["PostalCode"], address["StateProvinceCode"]) == ("K1A0B1", "ON")
