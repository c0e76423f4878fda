"""Outside review of ship40 (published minimums and UPS Rating's state).

- UPS Rating.yaml ShipTo/ShipFrom Address.StateProvinceCode: minLength and
  maxLength 2. ship40 left an optional state longer than 2 out of a quote,
  but still sent one of 1 character (an Austrian "9"), which Rating does not
  take either; Shipping (minLength 1) takes it on the label.
- MyDHL API 2.12.0 exportDeclaration.lineItems.commodityCodes.value:
  minLength 2 (maxLength 18); a 1-character HS code was sent to DHL.
- The customs item schema's hs_code help gave UPS's 15 but not the
  minimum ship40 made a 400 (`field_too_short`).
"""

import json

import pytest
import responses

from integrations.models import ProviderCall
from tests.shipping.contract import harness_dhl_express, harness_ups, harness_usps
from tests.shipping.helpers import abroad, api_client
from tests.shipping.state_cases import with_phones_abroad

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
RATES = "/api/v1/shipping/rates/"
VIENNA = {
    "name": "Anna Buyer",
    "street_lines": ["Stephansplatz 1"],
    "city": "Wien",
    "state_code": "9",
    "postal_code": "1010",
    "country_code": "AT",
    "phone": "+43 1 555 0123",
}


def _abroad(hs_code: str = "610910", to_address: dict = VIENNA) -> dict:
    return abroad(to_address, hs_code)


def test_a_ups_quote_leaves_an_optional_state_shorter_than_ratings_2_out():
    harness_ups.make_account()

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness_ups.rates(mocked, None)
        body = with_phones_abroad(_abroad())  # UPS requires both abroad
        reply = api_client("shipping:read").post(RATES, body, format="json")
        [call] = [c for c in mocked.calls if c.request.url == harness_ups.RATES_URL]

    assert reply.status_code == 200, reply.json()
    shipment = json.loads(call.request.body)["RateRequest"]["Shipment"]
    assert "StateProvinceCode" not in shipment["ShipTo"]["Address"]
    assert shipment["Shipper"]["Address"]["StateProvinceCode"] == "TN"


def test_a_dhl_quote_with_a_1_character_hs_code_is_a_400():
    harness_dhl_express.make_account()

    with responses.RequestsMock(assert_all_requests_are_fired=False):
        reply = api_client("shipping:read").post(RATES, _abroad("6"), format="json")

    assert reply.status_code == 400, reply.json()
    error = reply.json()["error"]
    assert (error["param"], error["code"]) == (
        "customs.items[0].hs_code",
        "field_too_short",
    )
    assert "at least 2 characters" in error["message"]
    assert not ProviderCall.objects.exists()


def test_the_hs_code_schema_help_gives_the_minimums():
    from shipping.serializers import CustomsItemSerializer

    text = CustomsItemSerializer().fields["hs_code"].help_text

    assert "UPS: 15 (at least 6" in text
    assert "DHL Express: 18 (at least 2" in text
    assert "field_too_short" in text


def test_a_usps_label_sends_a_zip_plus_4_as_zip_code_and_zip_plus_4():
    # ship40 moved labels to ZIPCode + ZIPPlus4 with only pickups tested; the
    # label's fields stay the spec sample's (spec_label_request.json).
    from dataclasses import replace

    from shipping.providers.usps import USPSAdapter
    from tests.shipping.contract import requests as shared
    from tests.shipping.providers.wire import body_of, load, sent, unknown_fields

    account = harness_usps.make_account()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        request = harness_usps.label(mocked, account)
        recipient = replace(shared.RECIPIENT, postal_code="62704-1234")
        USPSAdapter(account).create_label(replace(request, to_address=recipient))
        (call,) = sent(mocked, "POST", harness_usps.LABEL_URL)

    body = body_of(call)
    assert unknown_fields(body, load("usps", "spec_label_request.json")) == []
    to_address = body["toAddress"]
    assert (to_address["ZIPCode"], to_address["ZIPPlus4"]) == ("62704", "1234")
    assert "ZIPPlus4" not in body["fromAddress"]
