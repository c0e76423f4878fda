"""Three ISO 3166-2 states the carriers were sent wrong, or refused in
words that did not say why (ship46).

- "IE-CO" went to every carrier as "CO": ISO's code for County Cork, which
  no carrier documents for Ireland. UPS's Shipping.yaml StateProvinceCode
  says "If the country or territory is Ireland, the StateProvinceCode must
  contain the county" (Pickup.yaml: "county for Ireland (IE)"), Shippo's
  AddressBase state "UPS requires province for some countries (i.e
  Ireland)"; FedEx's stateOrProvinceCode is required only for US, CA, PR.
  Now an Irish ISO code goes as its county's name ("Cork"), each carrier's
  own rule then deciding (UPS's label takes 5 characters, FedEx 2: left
  out, as an optional state it cannot take).
- A bare "IL" (or "Illinois") at a Puerto Rico address passed: IL is a US
  state, not a Puerto Rican one, and went out as PR's state. At a
  territory's address the state must name that territory (PR), as a US-
  code there already had to (ship45).
- "CN-HK" at a Hong Kong address was a 400 saying only that the prefix was
  another country's; at a Chinese address it went out as a Chinese state
  "HK". ISO 3166-1 gives Hong Kong a country code of its own (HK), which
  carriers ship to: both are a 400 ``invalid_state`` saying so.
"""

import json
from dataclasses import replace

import pytest
import responses

from integrations import registry
from tests.shipping.contract import harness_fedex, harness_ups
from tests.shipping.contract import requests as shared
from tests.shipping.state_cases import EVERY, check_refused, state_request, ups_label

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
CORK = {
    "name": "Aoife Buyer",
    "street_lines": ["1 Patrick Street"],
    "city": "Cork",
    "postal_code": "T12 K8AF",
    "country_code": "IE",
    "state_code": "IE-CO",
    "phone": "+353 21 555 0100",
}


@pytest.mark.parametrize("state", ["IE-CO", "ie-co"])
def test_an_irish_iso_code_reaches_a_ups_label_as_the_countys_name(state):
    reply, sent = ups_label(CORK | {"state_code": state}, f"s46-cork-{state}")

    assert reply.status_code == 201, reply.json()
    assert sent["ShipTo"]["Address"]["StateProvinceCode"] == "Cork"


def test_an_irish_iso_code_is_not_sent_to_fedex_as_a_state():
    # stateOrProvinceCode: required for US, CA, PR only, at most 2: the
    # county's name does not fit, so none is sent (never "CO").
    adapter = registry.get_adapter(harness_fedex.make_account())
    given = {k: v for k, v in CORK.items() if k != "street_lines"}
    cork = replace(shared.ABROAD, **given)
    request = replace(shared.rate_request(to_address=cork), customs=shared.CUSTOMS)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness_fedex.rates(mocked, None)
        assert adapter.rates(request)
        [body] = [
            json.loads(c.request.body)
            for c in mocked.calls
            if c.request.url == harness_fedex.RATES_URL
        ]

    recipient = body["requestedShipment"]["recipient"]["address"]
    assert "stateOrProvinceCode" not in recipient


@pytest.mark.parametrize("harness", EVERY, ids=lambda h: h.PROVIDER)
@pytest.mark.parametrize("state", ["IL", "Illinois", "us-il"])
def test_a_us_states_code_or_name_at_a_puerto_rico_address_is_invalid_state(
    harness, state
):
    refused = check_refused(harness, "PR", state, "00901")

    assert (refused.param, refused.code) == ("to_address.state_code", "invalid_state")
    assert "PR" in refused.message
    assert state not in refused.message  # the buyer's text


@pytest.mark.parametrize("harness", EVERY, ids=lambda h: h.PROVIDER)
@pytest.mark.parametrize("country", ["HK", "CN"])
def test_china_s_code_for_hong_kong_says_hong_kong_is_a_country_of_its_own(
    harness, country
):
    refused = check_refused(harness, country, "CN-HK", "999077")

    assert (refused.param, refused.code) == ("to_address.state_code", "invalid_state")
    assert "Hong Kong" in refused.message
    assert "ISO 3166-1" in refused.message
    assert "country_code HK" in refused.message


def test_ups_is_still_asked_for_a_hong_kong_address_without_a_state():
    adapter = registry.get_adapter(harness_ups.make_account())
    adapter.check_shipment(state_request("HK", ""))  # no refusal


def test_the_api_schema_says_how_such_states_are_taken():
    from rest_framework.test import APIClient

    schemas = APIClient().get("/api/schema/", {"format": "json"}).json()
    described = [
        schema["properties"]["state_code"]["description"]
        for name, schema in schemas["components"]["schemas"].items()
        if name.endswith("Address") and "state_code" in schema.get("properties", {})
    ]
    assert described
    for text in described:
        assert "IE-CO as Cork" in text
        assert "CN-HK" in text
        assert "Puerto Rico" in text
