"""Review of ship42 (r-ship42).

- UPS negotiated rates, one rule for quotes and labels: ship42 asked a quote
  for negotiated rates only beside a 2-character ShipFrom state, while its
  label always asks for them (Shipping.yaml's NegotiatedRatesIndicator has
  no condition: "If the indicator is present and the Shipper is authorized
  then Negotiated Rates should be returned ... If [not] qualified ... a
  warning message is returned ... and only the Published rates"). A British,
  Irish or Vietnamese shipper was quoted UPS's published price and billed
  its negotiated one. Both now ask for negotiated rates; where UPS prices
  none it answers published ones, which the quote marks (extra.price).
- FedEx pickups: PickupLocationParty_address (pickup-api.json) lists
  postalCode in "required" beside stateOrProvinceCode, with no condition;
  ship42 required the state in every country but still sent an empty
  postalCode for a pickup where we take none (Hong Kong, Ireland).
"""

import copy
import json

import pytest
import responses

from integrations.models import ProviderCall
from shipping.api_examples import ADDRESS_FROM, PICKUP_REQUEST, RATE_REQUEST
from tests.shipping.contract import harness_fedex, harness_ups
from tests.shipping.helpers import PICKUPS, abroad, post_as_writer
from tests.shipping.providers.wire import body_of, sent

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
LONDON = {
    "name": "London Depot",
    "street_lines": ["1 Strand"],
    "city": "London",
    "state_code": "",
    "postal_code": "WC2N 5HR",
    "country_code": "GB",
    "phone": "+44 20 7946 0958",
}
HANOI = LONDON | {
    "city": "Hanoi",
    "state_code": "VN-44",
    "postal_code": "100000",
    "country_code": "VN",
    "phone": "+84245550123",
}
CORK = LONDON | {
    "city": "Cork",
    "state_code": "Cork",
    "postal_code": "T12 X70A",
    "country_code": "IE",
    "phone": "+353 21 555 0123",
}
FEDEX_PICKUP = f"{harness_fedex.BASE}/pickup/v1/pickups"


def _quoted_shipment(origin: dict) -> dict:
    body = abroad(RATE_REQUEST["to_address"])
    body["from_address"] = origin
    harness_ups.make_account()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness_ups.rates(mocked, None)
        reply = post_as_writer(body)
        shipments = [
            json.loads(c.request.body)["RateRequest"]["Shipment"]
            for c in mocked.calls
            if c.request.url == harness_ups.RATES_URL
        ]
    assert reply.status_code == 200, reply.json()
    return shipments[0]


@pytest.mark.parametrize("origin", [LONDON, HANOI, CORK])
def test_a_ups_quote_asks_negotiated_rates_as_its_label_does(origin):
    shipment = _quoted_shipment(origin)

    assert shipment["ShipmentRatingOptions"] == {"NegotiatedRatesIndicator": "Y"}
    # Rating's state is still only one of 2 characters: none of these.
    assert "StateProvinceCode" not in shipment["ShipFrom"]["Address"]


def test_a_us_shippers_ups_quote_asks_negotiated_rates_too():
    shipment = _quoted_shipment(copy.deepcopy(RATE_REQUEST["from_address"]))

    assert shipment["ShipmentRatingOptions"] == {"NegotiatedRatesIndicator": "Y"}


def _fedex_pickup(address: dict, key: str):
    account = harness_fedex.make_account()
    body = PICKUP_REQUEST | {"account": account.slug, "address": address}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(
            harness_fedex.TOKEN_URL, json=harness_fedex.load("oauth_token.json")
        )
        mocked.post(FEDEX_PICKUP, json=harness_fedex.load("pickup_response.json"))
        reply = post_as_writer(body, PICKUPS, HTTP_IDEMPOTENCY_KEY=key)
        calls = [body_of(c) for c in sent(mocked, "POST", FEDEX_PICKUP)]
    return reply, calls


@pytest.mark.parametrize(
    "place",
    [
        {"city": "Hong Kong", "state_code": "HK", "country_code": "HK"},
        {"city": "Cork", "state_code": "CO", "country_code": "IE"},
    ],
)
def test_a_fedex_pickup_without_a_postcode_is_a_400_not_sent_empty(place):
    address = ADDRESS_FROM | place | {"postal_code": "", "phone": "+85223456789"}

    reply, calls = _fedex_pickup(address, f"r42-{place['country_code']}")

    assert reply.status_code == 400, reply.json()
    error = reply.json()["error"]
    assert (error["param"], error["code"]) == ("address.postal_code", "missing_field")
    assert "FedEx" in error["message"]
    assert calls == []
    assert not ProviderCall.objects.exists()


def test_a_fedex_pickup_with_a_postcode_abroad_is_still_booked():
    address = ADDRESS_FROM | {
        "city": "Cork",
        "state_code": "CO",
        "postal_code": "T12 X70A",
        "country_code": "IE",
        "phone": "+353215550123",
    }

    reply, calls = _fedex_pickup(address, "r42-ie-ok")

    assert reply.status_code == 201, reply.json()
    assert calls[0]["originDetail"]["pickupLocation"]["address"]["postalCode"] == (
        "T12 X70A"
    )


# The API schema's word (AddressSerializer help, shared by quotes, labels and
# pickups) said a state is "optional" outside the listed countries and "left
# out" when a carrier cannot take it: ship42 made FedEx and Shippo pickups
# require one in every country (a FedEx one over 2 refused), a postcode too,
# and USPS pickups a first and a last name. The schema now says so.
def _help(field: str) -> str:
    from shipping.serializers import AddressSerializer

    return AddressSerializer().fields[field].help_text


def test_the_state_schema_help_names_the_pickups_requiring_one_everywhere():
    text = _help("state_code")

    assert "a FedEx or Shippo pickup in every country" in text
    assert "optional on a quote and a label" in text


def test_the_postcode_schema_help_names_the_pickups_requiring_one():
    text = _help("postal_code")

    assert "FedEx or Shippo pickup" in text
    assert "missing_field" in text


def test_the_name_schema_help_says_a_usps_pickup_needs_two_words():
    text = _help("name")

    assert "USPS pickup" in text
    assert "invalid_name" in text
