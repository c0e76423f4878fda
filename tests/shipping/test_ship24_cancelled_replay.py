"""A pickup's cancel, and its booking, asked again once it is cancelled.

Chosen: as payments answer "already voided" (issue 17: a retried void or
cancel met by "already voided" is a success, not a refusal), a cancel of a
pickup cancelled already is a 200 with the cancelled pickup and nothing is
sent to the carrier; a replayed key answers its stored response. A booking's
key replayed after the replay window answered 202 (a booking in doubt: poll
it) for a pickup since cancelled; a settled booking is a 201 with the pickup
as it stands, as ``past`` is and as a voided label's buy replays (201)."""

import pytest
from rest_framework.test import APIClient

from integrations.events import Event
from integrations.models import IdempotencyRecord, ProviderCall
from shipping.api_examples import PICKUP_REQUEST
from shipping.models import Pickup, PickupStatus
from tests.shipping.helpers import api_client, carrier

pytestmark = pytest.mark.django_db
PICKUPS = "/api/v1/shipping/pickups/"


@pytest.fixture
def api() -> APIClient:
    return api_client("shipping:read", "shipping:write")


def _post(api, url, key, data=None):
    return api.post(url, data or {}, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.fixture
def cancelled(api) -> dict:
    carrier("post")
    booked = _post(api, PICKUPS, "book-1", PICKUP_REQUEST | {"account": "post"})
    assert booked.status_code == 201, booked.content
    url = f"{PICKUPS}{booked.json()['id']}/cancel/"
    first = _post(api, url, "cancel-1")
    assert (first.status_code, first.json()["status"]) == (200, "cancelled")
    assert _carrier_calls() == 1
    return {"id": booked.json()["id"], "url": url, "first": first.json()}


def _carrier_calls() -> int:
    return ProviderCall.objects.filter(operation__icontains="cancel").count()


def test_a_replayed_cancel_key_answers_the_stored_200(api, cancelled):
    calls = _carrier_calls()

    again = _post(api, cancelled["url"], "cancel-1")

    assert again.status_code == 200
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == cancelled["first"]
    assert _carrier_calls() == calls
    assert Event.objects.filter(name="pickup.cancelled").count() == 1


def test_a_new_cancel_of_a_cancelled_pickup_is_a_200_and_no_carrier_call(
    api, cancelled
):
    calls = _carrier_calls()

    again = _post(api, cancelled["url"], "cancel-2")

    assert (again.status_code, again.json()["status"]) == (200, "cancelled")
    assert again.json()["id"] == cancelled["id"]
    assert _carrier_calls() == calls
    assert Event.objects.filter(name="pickup.cancelled").count() == 1


def test_the_booking_key_replayed_in_its_window_answers_the_stored_201(api, cancelled):
    again = _post(api, PICKUPS, "book-1", PICKUP_REQUEST | {"account": "post"})

    assert again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"


def test_the_booking_key_replayed_after_its_window_is_a_201_cancelled(api, cancelled):
    # The replay window over (IDEMPOTENCY_KEY_TTL_HOURS): the stored answer
    # is gone, the pickup the key booked answers.
    IdempotencyRecord.objects.all().delete()

    again = _post(api, PICKUPS, "book-1", PICKUP_REQUEST | {"account": "post"})

    assert again.status_code == 201, again.content
    assert (again.json()["id"], again.json()["status"]) == (
        cancelled["id"],
        "cancelled",
    )
    assert Pickup.objects.get().status == PickupStatus.CANCELLED


def test_a_booking_in_doubt_replayed_after_its_window_is_still_a_202(api):
    carrier("post")
    booked = _post(api, PICKUPS, "book-2", PICKUP_REQUEST | {"account": "post"})
    Pickup.objects.filter(public_id=booked.json()["id"]).update(
        status=PickupStatus.UNKNOWN
    )
    IdempotencyRecord.objects.all().delete()

    again = _post(api, PICKUPS, "book-2", PICKUP_REQUEST | {"account": "post"})

    assert (again.status_code, again.json()["status"]) == (202, "unknown")
