"""A US state in any form, at every carrier: one case table (ship46 folded
test_r_ship43_states_every_carrier's names and test_ship44_iso_states' ISO
codes, which ran the same checks twice; every case kept).

- r-ship43: our API takes a state of up to 40 characters, room for
  "California". USPS sent it as its code; UPS and FedEx refused it as
  ``field_too_long`` (Shipping.yaml StateProvinceCode "For US or Canada, the
  value must be a valid US state or Canadian province code"; FedEx
  stateOrProvinceCode "Max length is 2"), Shippo and DHL Express were sent
  it as written (Shippo's AddressBase state: "Most carriers only accept two
  or three character state abbreviations").
- ship44: "US-IL" or "us-il" (ISO 3166-2's form) named no US state and was
  a 400 ``invalid_state`` at every carrier.
Now a state's name or ISO code is sent as its code to every carrier
(quotes, labels, pickups, address checks); one that names no state there,
or carries another country's prefix, is a 400 ``invalid_state`` before any
call, in words that name no buyer's text and no other carrier.
"""

from dataclasses import replace
from types import ModuleType

import pytest

from integrations.models import ProviderCall
from shipping.api_examples import ADDRESS_TO, RATE_REQUEST
from tests.shipping.contract import requests as shared
from tests.shipping.helpers import post_as_writer
from tests.shipping.state_cases import (
    EVERY,
    WIRED,
    assert_passes_every_check,
    assert_sent_as_codes,
    invalid_state_messages,
    pickup_and_check_states_sent,
    ups_quote,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
# TN and IL written otherwise, in any case: their names, their ISO codes.
WRITTEN = {
    "names": {"TN": "Tennessee", "IL": "illinois"},
    "iso": {"TN": "US-TN", "IL": "us-il"},
}
# A state refused at a US address, and the words its refusal says.
NAMES_NONE = "names no US state or territory"
OTHER_PREFIX = "country prefix other than the address's country (US)"
REFUSED = {
    "Ontario": NAMES_NONE,
    "ILL": NAMES_NONE,
    "Calif": NAMES_NONE,
    "CA-IL": OTHER_PREFIX,
    "mx-tn": OTHER_PREFIX,
    "PR-IL": OTHER_PREFIX,
}
# Puerto Rico as a name or an ISO code, in the US or as its own country.
PUERTO_RICO = [
    ("US", "puerto rico"),
    ("PR", "puerto rico"),
    ("US", "US-PR"),
    ("PR", "us-pr"),
    ("PR", "PR-PR"),
]
# What a UPS pickup, a FedEx pickup and a UPS address check are given.
PICKUPS_AND_CHECKS = {
    "names": {
        "ups_pickup": "Tennessee",
        "fedex_pickup": "tennessee",
        "ups_check": "Illinois",
    },
    "iso": {"ups_pickup": "us-tn", "fedex_pickup": "US-TN", "ups_check": "US-IL"},
}


@pytest.mark.parametrize("harness", WIRED, ids=lambda h: h.PROVIDER)
@pytest.mark.parametrize("form", sorted(WRITTEN))
def test_every_carrier_sends_a_us_state_as_its_code(harness: ModuleType, form: str):
    assert_sent_as_codes(harness, WRITTEN[form])


@pytest.mark.parametrize("harness", EVERY, ids=lambda h: h.PROVIDER)
@pytest.mark.parametrize("state", sorted(REFUSED))
def test_a_state_naming_no_us_state_is_invalid_state_at_every_carrier(
    harness: ModuleType, state: str
):
    for message in invalid_state_messages(harness, state):
        assert REFUSED[state] in message
        assert state not in message  # the buyer's text
        # In words true of any carrier: USPS is not named at another's.
        assert "USPS" not in message


@pytest.mark.parametrize("harness", EVERY, ids=lambda h: h.PROVIDER)
def test_puerto_rico_as_a_name_or_iso_code_passes_every_carrier_check(harness):
    assert_passes_every_check(harness, PUERTO_RICO)


@pytest.mark.parametrize("state", ["California", "US-CA"])
def test_a_quote_through_our_api_reaches_ups_with_the_states_code(state):
    address = ADDRESS_TO | {"state_code": state, "postal_code": "90001"}
    reply, sent = ups_quote(RATE_REQUEST | {"to_address": address})

    assert reply.status_code == 200, reply.json()
    assert sent["ShipTo"]["Address"]["StateProvinceCode"] == "CA"


@pytest.mark.parametrize("state", ["Ontario", "CA-ON"])
def test_a_shop_refuses_a_state_naming_no_us_state_before_any_carrier(state):
    reply = post_as_writer(
        RATE_REQUEST | {"to_address": ADDRESS_TO | {"state_code": state}}
    )

    assert reply.status_code == 400, reply.json()
    error = reply.json()["error"]
    assert (error["param"], error["code"]) == ("to_address.state_code", "invalid_state")
    expected = "country prefix" if "-" in state else NAMES_NONE
    assert expected in error["message"]
    assert not ProviderCall.objects.exists()


@pytest.mark.parametrize("form", sorted(PICKUPS_AND_CHECKS))
def test_pickups_and_address_checks_send_a_us_state_as_its_code(form):
    states = PICKUPS_AND_CHECKS[form]
    assert pickup_and_check_states_sent(states, f"s46-{form}") == ["TN", "TN", "IL"]


def test_a_prefix_elsewhere_is_left_to_that_countrys_rule():
    # The US mapping reads only US and territory states; since ship45 the
    # carriers get a Vietnamese "VN-44" as its short code (state_sent).
    from shipping.providers.us_states import state_sent, us_state_sent

    hanoi = replace(shared.ABROAD, country_code="VN", state_code="VN-44")
    assert us_state_sent(hanoi) == hanoi
    assert state_sent(hanoi).state_code == "44"
