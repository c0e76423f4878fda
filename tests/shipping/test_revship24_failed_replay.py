"""A booking key replayed after its replay window for a pickup that failed.

202 says "accepted, in doubt: poll it"; a failed pickup is settled (the
carrier refused it, or staff found no booking), and no poll will ever change
it. As a label buy's failed shipment answers 422 ``label_failed`` with the
shipment, a failed pickup answers 422 ``pickup_failed`` with the pickup, in
our words (never the carrier's text kept for staff)."""

import pytest
from rest_framework.test import APIClient

from integrations.models import IdempotencyRecord
from shipping import services
from shipping.api_examples import ADDRESS_FROM, PICKUP_REQUEST
from shipping.models import Pickup, PickupStatus
from tests.shipping.helpers import api_client, carrier

pytestmark = pytest.mark.django_db
PICKUPS = "/api/v1/shipping/pickups/"
REFUSED = PICKUP_REQUEST | {
    "account": "post",
    "address": {**ADDRESS_FROM, "postal_code": "00000"},  # the sandbox refuses it
}


@pytest.fixture
def api() -> APIClient:
    return api_client("shipping:read", "shipping:write")


def _post(api, key, data):
    return api.post(PICKUPS, data, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_a_refused_booking_replayed_after_its_window_is_a_422_pickup_failed(api):
    carrier("post")
    first = _post(api, "book-refused", REFUSED)
    assert first.status_code == 422, first.content
    assert Pickup.objects.get().status == PickupStatus.FAILED
    IdempotencyRecord.objects.all().delete()  # the replay window is over

    again = _post(api, "book-refused", REFUSED)

    assert again.status_code == 422, again.content
    body = again.json()
    assert body["error"]["code"] == "pickup_failed"
    assert body["pickup"]["status"] == "failed"
    assert body["pickup"]["id"] == Pickup.objects.get().public_id
    assert "cannot deliver" not in again.content.decode()  # staff's text only


def test_a_booking_staff_found_not_booked_replays_as_a_422_pickup_failed(api):
    carrier("post")
    first = _post(api, "book-lost", PICKUP_REQUEST | {"account": "post"})
    pickup = Pickup.objects.get(public_id=first.json()["id"])
    Pickup.objects.filter(pk=pickup.pk).update(status=PickupStatus.UNKNOWN)
    services.pickup_resolve(pickup=pickup)  # staff: the carrier has no booking
    IdempotencyRecord.objects.all().delete()

    again = _post(api, "book-lost", PICKUP_REQUEST | {"account": "post"})

    assert again.status_code == 422, again.content
    assert again.json()["error"]["code"] == "pickup_failed"
    assert again.json()["pickup"]["status"] == "failed"
