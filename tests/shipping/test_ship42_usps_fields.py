"""USPS field lengths and names as its v3 OpenAPI files give them (ship42).

USPS's own specs (karrio vendors them: modules/connectors/usps/vendor/
domestic-labels.yaml 3.9.13, carrier-pickup.yaml; usps_international/vendor/
international-labels.yaml) give lengths the adapter did not check:
Addressee firstName, lastName and firm 50; Address streetAddress and
secondaryAddress 50; city 28; email 50; InternationalAddress postalCode 11
(province 40 is above our API's own 8); ShippingContents itemDescription
30 and HSTariffNumber 6..14. A longer value reached USPS and came back as
its refusal; now a 400 ``field_too_long`` naming the field before any call.

Names: a label's address "The First and Last Name or Firm Name are always
required" (DomesticLabelAddress, InternationalLabelAddress); a one-word name
without a company was sent as firstName alone (neither pair nor firm), and
a pickup's as firstName = lastName = the word, a last name USPS was never
given. A label now sends the one word as firm (no first or last name
invented); a pickup's Addressee requires firstName and lastName
(carrier-pickup.yaml, no firm alternative): a one-word name is a 400.
"""

from dataclasses import replace

import pytest
import responses

from shipping.api_examples import ADDRESS_TO
from shipping.providers.base import Address
from tests.shipping.contract import harness_usps
from tests.shipping.contract import requests as shared
from tests.shipping.helpers import (
    abroad,
    post_as_writer,
    refused,
    usps_international_label,
    usps_pickup,
)
from tests.shipping.providers.wire import exact_body, sent

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]


def _refused(reply, param: str, code: str = "field_too_long") -> None:
    refused(reply, param, code, "USPS")


def _quote(body: dict):
    account = harness_usps.make_account()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness_usps.rates(mocked, None)
        return post_as_writer(body | {"account": account.slug})


def _to(**changes: object) -> dict:
    from shipping.api_examples import RATE_REQUEST

    return RATE_REQUEST | {"to_address": ADDRESS_TO | changes}


@pytest.mark.parametrize(
    ("changes", "param"),
    [
        ({"street_lines": ["9" * 51]}, "to_address.street_lines[0]"),
        ({"street_lines": ["1 Main St", "S" * 51]}, "to_address.street_lines[1]"),
        ({"city": "C" * 29}, "to_address.city"),
        ({"company": "F" * 51}, "to_address.company"),
        ({"email": "a" * 41 + "@example.com"}, "to_address.email"),
        ({"name": "A" * 51 + " Buyer"}, "to_address.name"),
        ({"name": "Ada " + "B" * 51}, "to_address.name"),
    ],
)
def test_a_usps_field_over_its_spec_length_is_a_400(changes, param):
    reply = _quote(_to(**changes))

    _refused(reply, param)


def test_usps_fields_at_their_spec_lengths_are_quoted():
    reply = _quote(
        _to(
            street_lines=["9" * 50, "S" * 50],
            city="C" * 28,
            company="F" * 50,
            name="A" * 50 + " " + "B" * 50,
        )
    )

    assert reply.status_code == 200, reply.json()


def test_a_usps_international_postcode_over_11_is_a_400():
    body = abroad(
        {
            "name": "Grace Kunde",
            "street_lines": ["Hauptstrasse 5"],
            "city": "Berlin",
            "postal_code": "1" * 12,
            "country_code": "DE",
        }
    )

    _refused(_quote(body), "to_address.postal_code")


@pytest.mark.parametrize(
    ("item", "param", "code"),
    [
        ({"description": "D" * 31}, "customs.items[0].description", "field_too_long"),
        ({"hs_code": "1" * 15}, "customs.items[0].hs_code", "field_too_long"),
        ({"hs_code": "12345"}, "customs.items[0].hs_code", "field_too_short"),
    ],
)
def test_a_usps_customs_line_outside_its_spec_lengths_is_a_400(item, param, code):
    body = abroad(
        {
            "name": "Grace Kunde",
            "street_lines": ["Hauptstrasse 5"],
            "city": "Berlin",
            "postal_code": "10115",
            "country_code": "DE",
        }
    )
    body["customs"]["items"][0] |= item

    _refused(_quote(body), param, code)


def _label(to_address: Address, **overrides: object) -> dict:
    from shipping.providers.usps import USPSAdapter

    adapter = USPSAdapter(harness_usps.make_account())
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        request = harness_usps.label(mocked, None)
        request = replace(request, to_address=to_address, **overrides)
        adapter.create_label(request)
        [call] = sent(mocked, "POST", harness_usps.LABEL_URL)
    return exact_body(call)["toAddress"]


def test_a_usps_label_sends_a_one_word_name_as_firm_not_a_first_name_alone():
    to = _label(replace(shared.RECIPIENT, name="Cher"))

    assert to["firm"] == "Cher"
    assert "firstName" not in to
    assert "lastName" not in to


def test_a_usps_label_sends_a_one_word_name_beside_a_company_once():
    to = _label(replace(shared.RECIPIENT, name="Cher", company="Cher Studios"))

    assert to["firm"] == "Cher Studios"
    assert to.get("firstName", "Cher") == "Cher"
    assert to.get("lastName") != "Cher"


def test_a_usps_label_sends_first_and_last_name_as_before():
    to = _label(shared.RECIPIENT)

    assert (to["firstName"], to["lastName"]) == ("Ada", "Buyer")
    assert "firm" not in to


def test_a_usps_international_label_sends_a_one_word_name_as_firm():
    body = usps_international_label(to_address=replace(shared.ABROAD, name="Cher"))

    to = body["toAddress"]
    assert to["firm"] == "Cher"
    assert "firstName" not in to and "lastName" not in to


def test_a_usps_pickup_for_a_one_word_name_is_a_400_not_a_duplicated_name():
    reply, calls = usps_pickup({"name": "Cher"}, "s42-usps-cher")

    _refused(reply, "address.name", "invalid_name")
    assert "first and last name" in reply.json()["error"]["message"]
    assert calls == []


def test_a_usps_pickup_sends_first_and_last_name():
    reply, [body] = usps_pickup({}, "s42-usps-names")

    assert reply.status_code == 201, reply.json()
    sent_address = body["pickupAddress"]
    assert (sent_address["firstName"], sent_address["lastName"]) == (
        "Switchyard",
        "Warehouse",
    )


def test_a_usps_pickup_city_over_28_is_a_400():
    reply, calls = usps_pickup({"city": "C" * 29}, "s42-usps-city")

    _refused(reply, "address.city")
    assert calls == []
