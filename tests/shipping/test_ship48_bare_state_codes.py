"""A state given as the bare short code of an ISO 3166-2 subdivision of the
address's country is the same state as its prefixed code (ship48).

ship46 refused "CN-HK" at a Chinese address (ISO 3166-1 lists Hong Kong as a
country of its own, HK, and carriers ship there as that country) and sent
"IE-CO" as the county's name, "Cork" (UPS's Shipping.yaml StateProvinceCode:
"If the country or territory is Ireland, the StateProvinceCode must contain
the county"). The bare short codes still went out as given: "HK" as a
Chinese province, "971" as a French one (Guadeloupe, GP), "CO" as an Irish
state no carrier documents. Now they get the prefixed code's answer: a 400
``invalid_state`` naming the place's country code, and "CO" sent as "Cork".
"""

import pytest
import responses

from shipping.models import Shipment
from tests.shipping.contract import harness_ups
from tests.shipping.helpers import abroad, post_as_writer, refused
from tests.shipping.state_cases import ups_label

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
BEIJING = {
    "name": "Li Buyer",
    "street_lines": ["1 Chang'an Avenue"],
    "city": "Beijing",
    "postal_code": "100000",
    "country_code": "CN",
    "phone": "+86 10 5555 0100",
}
POINTE_A_PITRE = {
    "name": "Marie Buyer",
    "street_lines": ["1 Rue Frebault"],
    "city": "Pointe-a-Pitre",
    "postal_code": "97110",
    "country_code": "FR",
    "phone": "+590 590 55 01 00",
}
CORK = {
    "name": "Aoife Buyer",
    "street_lines": ["1 Patrick Street"],
    "city": "Cork",
    "postal_code": "T12 K8AF",
    "country_code": "IE",
    "phone": "+353 21 555 0100",
}


def _shop(to_address: dict):
    harness_ups.make_account()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness_ups.rates(mocked, None)
        reply = post_as_writer(abroad(to_address))
        assert list(mocked.calls) == []
    return reply


@pytest.mark.parametrize(
    ("address", "state", "place", "own"),
    [
        (BEIJING, "HK", "Hong Kong", "HK"),
        (BEIJING, "hk", "Hong Kong", "HK"),
        (BEIJING, "MO", "Macao", "MO"),
        (POINTE_A_PITRE, "971", "Guadeloupe", "GP"),
    ],
)
def test_a_bare_code_for_a_place_iso_lists_as_a_country_is_refused_before_any_call(
    address, state, place, own
):
    reply = _shop(address | {"state_code": state})

    error = refused(reply, "to_address.state_code", "invalid_state", place)
    assert f"country_code {own}" in error["message"]
    assert "ISO 3166-1 lists as a country of its own" in error["message"]


def test_a_label_for_a_quote_kept_with_a_bare_hk_is_refused_before_ups():
    # A quote stored before this rule: its label is checked again.
    reply, sent = ups_label(BEIJING | {"state_code": "HK"}, "s48-hk")

    refused(reply, "to_address.state_code", "invalid_state", "country_code HK")
    assert sent is None
    assert not Shipment.objects.exists()


@pytest.mark.parametrize("state", ["CO", "co"])
def test_a_bare_irish_county_code_reaches_a_ups_label_as_the_countys_name(state):
    reply, sent = ups_label(CORK | {"state_code": state}, f"s48-cork-{state}")

    assert reply.status_code == 201, reply.json()
    assert sent["ShipTo"]["Address"]["StateProvinceCode"] == "Cork"


def test_a_county_given_by_its_name_is_still_sent_as_written():
    reply, sent = ups_label(CORK | {"state_code": "Cork"}, "s48-cork-name")

    assert reply.status_code == 201, reply.json()
    assert sent["ShipTo"]["Address"]["StateProvinceCode"] == "Cork"
