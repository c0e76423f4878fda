"""Shippo addresses as its OpenAPI (provider-specs/shippo/public-api.yaml,
AddressBase) describes them (ship41).

- Optional fields with no value were sent as "" on quotes and labels
  (company, street2, state, phone, email), while a pickup's location left
  them out: an empty email is no "RFC3696/5321-compliant" address. Now left
  out on every path.
- street1/street2: "35 character limit"; street3 only for some carriers, so
  two lines are sent: a longer line, or a third line, was cut or dropped
  without a word. Now a 400 naming the field, as for the other carriers.
- state: "required for purchase ... for shipments from/to the US, AU, and
  CA": a missing one was found out at purchase. Now a 400 missing_field.
"""

import copy
import json

import pytest
import responses

from shipping.api_examples import RATE_REQUEST
from tests.shipping.contract import harness_shippo
from tests.shipping.helpers import post_as_writer, refused

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
SHIPMENTS_URL = f"{harness_shippo.BASE}/shipments"


def _quote(body: dict):
    harness_shippo.make_account()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness_shippo.rates(mocked, None)
        reply = post_as_writer(body)
        sent = [
            json.loads(c.request.body)
            for c in mocked.calls
            if c.request.url == SHIPMENTS_URL
        ]
    return reply, sent


def test_a_shippo_quote_leaves_empty_optional_address_fields_out():
    body = copy.deepcopy(RATE_REQUEST)
    del body["to_address"]["phone"]  # the example's has one since ship45
    reply, [sent] = _quote(body)

    assert reply.status_code == 200, reply.json()
    recipient = sent["address_to"]  # the example's recipient: no company, phone, email
    assert "" not in recipient.values()
    for field in ("company", "street2", "phone", "email"):
        assert field not in recipient
    assert recipient["street1"] == "742 Evergreen Terrace"
    assert sent["address_from"]["company"] == "Switchyard Ltd"


def test_a_shippo_quote_without_a_us_state_is_a_400():
    body = copy.deepcopy(RATE_REQUEST)
    body["to_address"]["state_code"] = ""

    reply, sent = _quote(body)

    refused(reply, "to_address.state_code", "missing_field")
    assert sent == []


def test_a_shippo_street_line_over_35_is_a_400():
    body = copy.deepcopy(RATE_REQUEST)
    body["to_address"]["street_lines"] = ["7" * 36]

    reply, sent = _quote(body)

    refused(reply, "to_address.street_lines[0]", "field_too_long")
    assert sent == []
    assert "at most 35 characters" in reply.json()["error"]["message"]


def test_a_third_street_line_is_a_400_not_dropped():
    body = copy.deepcopy(RATE_REQUEST)
    body["to_address"]["street_lines"] = ["742 Evergreen Terrace", "Apt 2", "Rear"]

    reply, sent = _quote(body)

    refused(reply, "to_address.street_lines", "field_too_long")
    assert sent == []
    assert "at most 2 lines" in reply.json()["error"]["message"]
