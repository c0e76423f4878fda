"""ISO 3166-2 state codes at every carrier (ship44).

A buyer's "US-IL" or "us-il" (ISO 3166-2's form, as many address forms and
geocoders write a state) named no US state: it was a 400 ``invalid_state``
at every carrier. Now the country-prefixed form is read through the shared
us_states mapping like a code or a name and sent as the 2-letter code, when
the prefix is the address's country (or the US, whose ISO 3166-2 lists the
territories: US-PR); another country's prefix is a 400 ``invalid_state``
saying so.
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
ISO = {"TN": "US-TN", "IL": "us-il"}  # any case


@pytest.mark.parametrize("harness", WIRED, ids=lambda h: h.PROVIDER)
def test_every_carrier_sends_an_iso_state_code_as_its_code(harness: ModuleType):
    assert_sent_as_codes(harness, ISO)


@pytest.mark.parametrize("harness", EVERY, ids=lambda h: h.PROVIDER)
@pytest.mark.parametrize("state", ["CA-IL", "mx-tn", "PR-IL"])
def test_another_countrys_prefix_is_invalid_state_at_every_carrier(
    harness: ModuleType, state: str
):
    for message in invalid_state_messages(harness, state):
        assert "country prefix other than the address's country (US)" in message
        assert state not in message  # the buyer's text


@pytest.mark.parametrize("harness", EVERY, ids=lambda h: h.PROVIDER)
def test_a_territorys_iso_code_passes_every_carrier_check(harness):
    # Puerto Rico's own prefix in the US's list (US-PR), in the US or as its
    # own country; "pr-pr" with its own country's prefix there.
    cases = [("US", "US-PR"), ("PR", "us-pr"), ("PR", "PR-PR")]
    assert_passes_every_check(harness, cases)


def test_a_quote_through_our_api_with_an_iso_state_reaches_ups_as_its_code():
    address = ADDRESS_TO | {"state_code": "US-CA", "postal_code": "90001"}
    reply, sent = ups_quote(RATE_REQUEST | {"to_address": address})

    assert reply.status_code == 200, reply.json()
    assert sent["ShipTo"]["Address"]["StateProvinceCode"] == "CA"


def test_a_shop_refuses_another_countrys_prefix_before_any_carrier():
    reply = post_as_writer(
        RATE_REQUEST | {"to_address": ADDRESS_TO | {"state_code": "CA-ON"}}
    )

    assert reply.status_code == 400, reply.json()
    error = reply.json()["error"]
    assert (error["param"], error["code"]) == ("to_address.state_code", "invalid_state")
    assert "country prefix" in error["message"]
    assert not ProviderCall.objects.exists()


def test_pickups_and_address_checks_send_an_iso_state_as_its_code():
    states = {"ups_pickup": "us-tn", "fedex_pickup": "US-TN", "ups_check": "US-IL"}
    assert pickup_and_check_states_sent(states, "s44") == ["TN", "TN", "IL"]


def test_a_prefix_elsewhere_is_left_as_given():
    # The US mapping reads only US and territory states; since ship45 the
    # carriers get a Vietnamese "VN-44" as its short code (state_sent).
    from shipping.providers.us_states import state_sent, us_state_sent

    hanoi = replace(shared.ABROAD, country_code="VN", state_code="VN-44")
    assert us_state_sent(hanoi) == hanoi
    assert state_sent(hanoi).state_code == "44"
