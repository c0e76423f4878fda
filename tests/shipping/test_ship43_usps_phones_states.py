"""USPS phones and states as its v3 specs want them (ship43).

Phones: Labels' Phone (domestic-labels.yaml 3.9.13 and international-
labels.yaml, as karrio vendors them) has pattern
"^\\+?[1-9][0-9]{7,14}$|^[0-9]{6,15}$": "The phone number, including the
country extension and area code or the local national format, with no
punctuation." A phone went as written ("(555) 010-2000"); now its digits,
a leading + kept, and one that cannot be made to fit (letters, an
extension, too few digits) is a 400 ``invalid_phone`` naming it.

States: Labels' State and addresses.yaml's state are "the two-character
state code of the address", one of a list (AL ... WY, DC, the territories
AS GU MP PR VI FM MH PW, the military AA AE AP). A name ("Illinois") reached
USPS; now a US state's or territory's name is sent as its code, and a state
that names none there ("Ontario") is a 400 ``invalid_state`` naming it.
Carrier Pickup's DomesticAddress state takes "the full state name or a
two-character state code", its pattern the names in lower case only: a
pickup gets the code as well.
"""

from dataclasses import replace

import pytest
import responses

from shipping.api_examples import ADDRESS_TO, RATE_REQUEST
from shipping.providers.validation import InvalidShippingRequest
from tests.shipping.contract import harness_usps
from tests.shipping.contract import requests as shared
from tests.shipping.helpers import (
    post_as_writer,
    refused,
    usps_address_check,
    usps_pickup,
)
from tests.shipping.providers.wire import exact_body, sent

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]


def _label(**addresses) -> dict:
    """The label body sent to USPS for the contract label request with
    ``addresses`` (from_address, to_address) in place."""
    from shipping.providers.usps import USPSAdapter

    adapter = USPSAdapter(harness_usps.make_account())
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        request = replace(harness_usps.label(mocked, None), **addresses)
        adapter.create_label(request)
        [call] = sent(mocked, "POST", harness_usps.LABEL_URL)
    return exact_body(call)


def _quote(**to_changes: object):
    account = harness_usps.make_account()
    body = RATE_REQUEST | {
        "account": account.slug,
        "to_address": ADDRESS_TO | to_changes,
    }
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness_usps.rates(mocked, None)
        return post_as_writer(body)


def _refused(reply, param: str, code: str) -> None:
    error = refused(reply, param, code)
    # A state that names none is every carrier's refusal, in words true of
    # any (test_ship46_us_state_forms); a phone USPS's own.
    assert ("USPS" in error["message"]) is (code != "invalid_state")


@pytest.mark.parametrize(
    ("phone", "wire"),
    [
        ("(555) 010-2000", "5550102000"),
        ("+1 555 010 2000", "+15550102000"),
        ("+1 (217) 555-0199", "+12175550199"),
        ("555.010.2000", "5550102000"),
    ],
)
def test_a_usps_label_sends_a_phone_as_its_digits(phone, wire):
    body = _label(
        to_address=replace(shared.RECIPIENT, phone=phone),
        from_address=replace(shared.SHIPPER, phone=phone),
    )

    assert body["toAddress"]["phone"] == wire
    assert body["fromAddress"]["phone"] == wire


@pytest.mark.parametrize(
    "phone",
    ["555-CALL-NOW", "+1 555 010 2000 x12", "12345", "+0 555 010 2000", "1" * 16],
)
def test_a_usps_phone_that_cannot_fit_its_pattern_is_a_400(phone):
    _refused(_quote(phone=phone), "to_address.phone", "invalid_phone")


def test_a_usps_label_buy_refuses_such_a_phone_before_any_call():
    from shipping.providers.usps import USPSAdapter

    adapter = USPSAdapter(harness_usps.make_account())
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        request = harness_usps.label(mocked, None)
        request = replace(request, to_address=replace(shared.RECIPIENT, phone="x"))
        with pytest.raises(InvalidShippingRequest) as refused:
            adapter.create_label(request)
        assert sent(mocked, "POST", harness_usps.LABEL_URL) == []

    assert refused.value.param == "to_address.phone"


@pytest.mark.parametrize(
    ("country", "state", "code"),
    [
        ("US", "Illinois", "IL"),
        ("US", "illinois", "IL"),
        ("US", "District of Columbia", "DC"),
        ("US", "Guam", "GU"),
        ("US", "il", "IL"),
        ("US", "Puerto Rico", "PR"),
    ],
)
def test_a_usps_label_sends_a_state_name_as_its_code(country, state, code):
    to = replace(shared.RECIPIENT, country_code=country, state_code=state)
    body = _label(
        to_address=to, from_address=replace(shared.SHIPPER, state_code="Tennessee")
    )

    assert body["toAddress"]["state"] == code
    assert body["fromAddress"]["state"] == "TN"


@pytest.mark.parametrize("state", ["California", "Texas"])
def test_a_usps_quote_takes_a_us_state_name(state):
    reply = _quote(state_code=state)

    assert reply.status_code == 200, reply.json()
    assert reply.json()["quotes"]


@pytest.mark.parametrize("state", ["Ontario", "ILL", "Calif"])
def test_a_us_state_that_names_none_is_a_400_for_usps(state):
    _refused(_quote(state_code=state), "to_address.state_code", "invalid_state")


def test_a_usps_pickup_sends_a_state_name_as_its_code():
    reply, [body] = usps_pickup({"state_code": "Tennessee"}, "s43-pickup-tn")

    assert reply.status_code == 201, reply.json()
    assert body["pickupAddress"]["address"]["state"] == "TN"


def test_a_usps_pickup_state_that_names_none_is_a_400():
    reply, calls = usps_pickup({"state_code": "Ontario"}, "s43-pickup-on")

    _refused(reply, "address.state_code", "invalid_state")
    assert calls == []


def test_a_usps_address_check_state_that_names_none_is_a_400():
    # addresses.yaml GET /address state: one of USPS's codes.
    reply, calls = usps_address_check(ADDRESS_TO | {"state_code": "Ontario"})

    _refused(reply, "address.state_code", "invalid_state")
    assert calls == []
