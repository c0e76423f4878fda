"""Review of ship38c: a phone UPS or FedEx would get as a wrong run of digits
is refused (400 naming the phone), not guessed; USPS's third street line is
refused, not dropped (its v3 address has streetAddress and secondaryAddress
only)."""

import copy
import json

import pytest
import responses

from shipping.api_examples import RATE_REQUEST
from tests.shipping.contract import harness_fedex, harness_ups, harness_usps
from tests.shipping.helpers import post_as_writer, quoted_over, refused, ups_pickup

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]


@pytest.mark.parametrize(
    "phone",
    [
        "+1 217 555 0199 ext: 12",  # an extension form not recognised
        "+1 217 555 0199 (x12)",
        "1-800-FLOWERS",  # a vanity number: its digits are 1800
        "1-800-TAX 1234",  # "X 1234" is not an extension
        "+1 217 555#0199",  # "#" inside the number
        "+1 217 555 0199,12",  # a dialler's pause, then an extension
    ],
)
@pytest.mark.parametrize("harness", [harness_ups, harness_fedex], ids=["ups", "fedex"])
def test_a_phone_not_read_as_number_and_extension_is_a_400(harness, phone):
    harness.make_account()
    body = copy.deepcopy(RATE_REQUEST)
    body["to_address"]["phone"] = phone

    with responses.RequestsMock(assert_all_requests_are_fired=False):
        reply = post_as_writer(body)

    refused(reply, "to_address.phone", "invalid_phone")


@pytest.mark.parametrize(
    "phone", ["+1 (217) 555-0199", "+44 20 7946 0958", "217.555.0199 #12"]
)
def test_a_plain_phone_or_one_with_an_extension_is_still_quoted(phone):
    harness_ups.make_account()
    body = copy.deepcopy(RATE_REQUEST)
    body["to_address"]["phone"] = phone

    reply = quoted_over(harness_ups, body)

    assert reply.status_code == 200, reply.json()
    assert reply.json()["quotes"]


def test_a_ups_pickup_phone_with_an_unread_extension_is_a_400():
    reply, sent = ups_pickup({"phone": "+1 901 555 0100 ext: 7"}, "r-up")

    refused(reply, "address.phone", "invalid_phone")
    assert sent == []


def test_a_usps_third_street_line_is_a_400_not_dropped():
    harness_usps.make_account()
    body = copy.deepcopy(RATE_REQUEST)
    body["to_address"]["street_lines"] = ["1 Main St", "Suite 4", "Building C"]

    with responses.RequestsMock(assert_all_requests_are_fired=False):
        reply = post_as_writer(body)

    refused(reply, "to_address.street_lines", "field_too_long")


def test_a_usps_two_line_address_is_sent_whole():
    harness_usps.make_account()
    body = copy.deepcopy(RATE_REQUEST)
    body["to_address"]["street_lines"] = ["1 Main St", "Suite 4"]

    reply = quoted_over(harness_usps, body)

    assert reply.status_code == 200, reply.json()
    assert json.loads(json.dumps(reply.json()))["quotes"]
