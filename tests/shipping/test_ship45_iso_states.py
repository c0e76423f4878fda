"""ISO 3166-2 codes outside the US, and US- codes at a territory (ship45).

ship44 read "US-IL" as IL, but only in the US and its territories: a
Canadian "CA-ON" or an Australian "AU-NSW" went to every carrier as given
(UPS's StateProvinceCode and FedEx's stateOrProvinceCode take a province's
code, "ON"; UPS's Rating and FedEx's Rate API 2 characters, so CA-ON was
refused as too long where Canada requires a state), and another country's
code there ("US-NY" in Canada) was sent as a wrong state. And at a territory
any US- code passed (US's prefix fits its ISO list), so "US-IL" at a Puerto
Rico address went as IL. Now an ISO 3166-2 code (one ISO lists) is sent as
its short code where its prefix is the address's country and refused as
``invalid_state`` where it is another's; a US- code at a territory only
where it names that territory (US-PR in Puerto Rico).
"""

import pytest

from shipping.api_examples import RATE_REQUEST
from tests.shipping.state_cases import (
    EVERY,
    assert_passes_every_check,
    check_refused,
    ups_quote,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
TORONTO = {
    "name": "Tom Buyer",
    "street_lines": ["1 King St W"],
    "city": "Toronto",
    "postal_code": "M5H 1A1",
    "country_code": "CA",
    "phone": "+1 416 555 0100",
}


@pytest.mark.parametrize("state", ["CA-ON", "ca-on", "CA - ON"])
def test_a_canadian_iso_code_reaches_ups_as_its_short_code(state):
    body = RATE_REQUEST | {"to_address": TORONTO | {"state_code": state}}
    reply, sent = ups_quote(body | {"customs": _customs()})

    assert reply.status_code == 200, reply.json()
    assert sent["ShipTo"]["Address"]["StateProvinceCode"] == "ON"


@pytest.mark.parametrize("harness", EVERY, ids=lambda h: h.PROVIDER)
def test_an_iso_code_of_the_address_country_passes_every_carrier_check(harness):
    cases = [
        ("CA", "CA-ON", "M5H1A1"),
        ("AU", "AU-NSW", "2000"),
        ("MX", "mx-cmx", "06000"),
    ]
    assert_passes_every_check(harness, cases)


@pytest.mark.parametrize("harness", EVERY, ids=lambda h: h.PROVIDER)
@pytest.mark.parametrize("state", ["US-NY", "au-nsw"])
def test_another_countrys_iso_code_in_canada_is_invalid_state(harness, state):
    refused = check_refused(harness, "CA", state, "M5H1A1")

    assert (refused.param, refused.code) == ("to_address.state_code", "invalid_state")
    assert "country prefix other than the address's country (CA)" in refused.message
    assert state not in refused.message  # the buyer's text


@pytest.mark.parametrize("harness", EVERY, ids=lambda h: h.PROVIDER)
@pytest.mark.parametrize(("country", "state"), [("PR", "US-IL"), ("GU", "us-pr")])
def test_a_us_code_at_a_territory_must_name_it(harness, country, state):
    refused = check_refused(harness, country, state, "00901")

    assert (refused.param, refused.code) == ("to_address.state_code", "invalid_state")
    assert f"US-{country}" in refused.message


@pytest.mark.parametrize("harness", EVERY, ids=lambda h: h.PROVIDER)
def test_a_us_code_naming_the_territory_passes(harness):
    countries = ("PR", "GU", "VI", "AS", "MP")
    assert_passes_every_check(
        harness, [(c, f"us-{c.lower()}", "00901") for c in countries]
    )


def test_a_state_name_with_a_hyphen_is_left_as_given():
    # Not an ISO 3166-2 code (ISO lists none such): a name, sent whole.
    from shipping.providers.shipment_types import Address
    from shipping.providers.us_states import state_sent

    for country, state in (("FR", "Île-de-France"), ("AE", "Al-Ain"), ("DE", "NRW")):
        address = Address(
            name="A",
            street_lines=("1",),
            city="C",
            postal_code="1",
            country_code=country,
            state_code=state,
        )
        assert state_sent(address).state_code == state


def _customs():
    from tests.shipping.helpers import merchandise

    return merchandise()


def test_ups_gets_a_vietnamese_province_with_its_prefix():
    # UPS StateProvinceCode: "For Vietnam (VN), the value must be a valid
    # province code (for example, VN-44)": the one carrier that keeps it.
    from dataclasses import replace

    from shipping.providers.ups_address import ups_address, ups_pickup_address
    from shipping.providers.us_states import state_sent
    from tests.shipping.contract import requests as shared

    for given in ("VN-44", "vn-44", "44"):
        hanoi = replace(shared.ABROAD, country_code="VN", state_code=given)
        sent = state_sent(hanoi)
        assert ups_address(sent).state_code == "VN-44"
        assert ups_pickup_address(sent).state_code == "VN-44"
