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
"""

import copy

import pytest
import responses

from shipping.api_examples import RATE_REQUEST
from tests.shipping.contract import harness_dhl_express, harness_ups
from tests.shipping.helpers import abroad, post_as_writer
from tests.shipping.state_cases import shipped_from, ups_quote, with_phones_abroad

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


def _quoted_shipment(origin: dict) -> dict:
    reply, shipment = ups_quote(shipped_from(origin))
    assert reply.status_code == 200, reply.json()
    return shipment


@pytest.mark.parametrize("origin", [LONDON, HANOI, CORK])
def test_a_ups_quote_asks_negotiated_rates_as_its_label_does(origin):
    shipment = _quoted_shipment(origin)

    assert shipment["ShipmentRatingOptions"] == {"NegotiatedRatesIndicator": "Y"}
    # Rating's state is still only one of 2 characters: none of these.
    assert "StateProvinceCode" not in shipment["ShipFrom"]["Address"]


def test_a_us_shippers_ups_quote_asks_negotiated_rates_too():
    shipment = _quoted_shipment(copy.deepcopy(RATE_REQUEST["from_address"]))

    assert shipment["ShipmentRatingOptions"] == {"NegotiatedRatesIndicator": "Y"}


def test_a_vietnamese_province_missing_leaves_only_ups_out_of_a_rate_shop():
    # A state rule is the carrier's alone: DHL Express still quotes it, and
    # the shop answers (UPS listed as refused), not a 400 for the whole shop.
    harness_ups.make_account()
    harness_dhl_express.make_account()
    body = with_phones_abroad(abroad(HANOI | {"state_code": ""}))  # as UPS needs

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness_dhl_express.rates(mocked, None)
        harness_ups.rates(mocked, None)
        reply = post_as_writer(body)

    assert reply.status_code == 200, reply.json()
    shop = reply.json()
    assert {q["carrier"] for q in shop["quotes"]} == {"DHL Express"}
    [failure] = shop["failures"]
    assert (failure["param"], failure["code"]) == (
        "to_address.state_code",
        "missing_field",
    )


# The API schema's word (AddressSerializer help, shared by quotes, labels and
# pickups) said a state is "optional" outside the listed countries and "left
# out" when a carrier cannot take it: ship42 made FedEx and Shippo pickups
# require one in every country (a FedEx one over 2 refused), Shippo's a
# postcode too, and USPS pickups a first and a last name. The schema now says so.
def _help(field: str) -> str:
    from shipping.serializers import AddressSerializer

    return AddressSerializer().fields[field].help_text


def test_the_state_schema_help_names_the_pickups_requiring_one_everywhere():
    text = _help("state_code")

    assert "a Shippo pickup in every country" in text
    assert "optional on a quote and a label" in text


def test_the_postcode_schema_help_names_the_pickups_requiring_one():
    text = _help("postal_code")

    assert "A Shippo pickup requires one in every country" in text
    assert "missing_field" in text


def test_the_name_schema_help_says_a_usps_pickup_needs_two_words():
    text = _help("name")

    assert "USPS pickup" in text
    assert "invalid_name" in text
