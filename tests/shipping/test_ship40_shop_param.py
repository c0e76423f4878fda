"""A rate shop's entry for a carrier left out by our own limit check names
the field (ship40): ``failures[].param``, as the 400 when no carrier can
take the request does. A carrier that failed otherwise has none."""

import copy

import pytest
import responses

from shipping.api_examples import RATE_REQUEST
from tests.shipping.contract import harness_fedex, harness_ups
from tests.shipping.helpers import api_client

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
RATES = "/api/v1/shipping/rates/"


def test_a_carrier_left_out_by_our_limit_names_the_field():
    # A city of 31: over UPS's 30, within FedEx's 35.
    harness_ups.make_account()
    harness_fedex.make_account()
    body = copy.deepcopy(RATE_REQUEST)
    body["to_address"]["city"] = "S" * 31

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness_fedex.rates(mocked, None)
        reply = api_client("shipping:read").post(RATES, body, format="json")

    assert reply.status_code == 200, reply.json()
    [failure] = reply.json()["failures"]
    assert failure["provider"] == "ups"
    assert (failure["code"], failure["param"]) == ("field_too_long", "to_address.city")


def test_a_carrier_that_failed_at_its_end_names_no_field():
    harness_ups.make_account()
    harness_fedex.make_account()

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness_fedex.rates(mocked, None)
        mocked.post(harness_ups.TOKEN_URL, json=harness_ups.load("oauth_token.json"))
        mocked.post(harness_ups.RATES_URL, status=500, json={})
        reply = api_client("shipping:read").post(RATES, RATE_REQUEST, format="json")

    assert reply.status_code == 200, reply.json()
    [failure] = reply.json()["failures"]
    assert failure["provider"] == "ups"
    assert failure["param"] is None


def test_the_schema_documents_the_failures_param():
    from shipping.serializers import CarrierFailureSerializer

    field = CarrierFailureSerializer().fields["param"]
    assert field.allow_null and "field" in field.help_text
