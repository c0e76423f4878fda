"""A pickup without the phone its carrier's pickup API requires (r-ship45).

- MyDHL API: a pickup's customerDetails.shipperDetails.contactInformation is
  the shipment's supermodelIoLogisticsExpressContact, whose ``phone`` is
  required (minLength 1): ship45 made DHL Express labels and quotes need it
  (DHL_EXPRESS_FIELDS.phone_always) but a pickup went to DHL without one.
- UPS Pickup.yaml: PickupCreationRequest_PickupAddress requires ``Phone``,
  PickupAddress_Phone requires ``Number`` (minLength 1); a pickup without a
  phone was sent with an empty Number.
Both are now a 400 ``missing_field`` naming ``address.phone`` before any call.
"""

import json

import pytest
import responses

from shipping.api_examples import ADDRESS_FROM, PICKUP_REQUEST
from tests.shipping.contract import harness_dhl_express
from tests.shipping.helpers import PICKUPS, post_as_writer, refused, ups_pickup

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]
DHL_PICKUPS = f"{harness_dhl_express.BASE}/pickups"


def _dhl_pickup(address: dict, key: str) -> tuple[object, list[dict]]:
    account = harness_dhl_express.make_account()
    body = PICKUP_REQUEST | {"account": account.slug, "address": address}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(
            DHL_PICKUPS,
            status=201,
            json=harness_dhl_express.load("pickup_create_response.json"),
        )
        reply = post_as_writer(body, PICKUPS, HTTP_IDEMPOTENCY_KEY=key)
        calls = [c for c in mocked.calls if c.request.url == DHL_PICKUPS]
    return reply, [json.loads(c.request.body) for c in calls]


def test_a_dhl_pickup_without_a_phone_is_refused_before_dhl_is_called():
    reply, calls = _dhl_pickup(ADDRESS_FROM | {"phone": ""}, "rs45-dhl-no-phone")

    refused(reply, "address.phone", "missing_field", "DHL")
    assert calls == []


def test_a_dhl_pickup_with_a_phone_is_booked_with_it():
    reply, [body] = _dhl_pickup(ADDRESS_FROM, "rs45-dhl-phone")

    assert reply.status_code == 201, reply.json()
    contact = body["customerDetails"]["shipperDetails"]["contactInformation"]
    assert contact["phone"] == ADDRESS_FROM["phone"]


def test_a_ups_pickup_without_a_phone_is_refused_before_ups_is_called():
    reply, sent = ups_pickup({"phone": ""}, "rs45-ups-no-phone")

    refused(reply, "address.phone", "missing_field", "UPS")
    assert sent == []


def test_a_ups_pickup_with_a_phone_is_booked_with_it():
    reply, [address] = ups_pickup({}, "rs45-ups-phone")

    assert reply.status_code == 201, reply.json()
    assert address["Phone"]["Number"]
