"""A pickup marked ``past`` by the schedule, cancelled, or settled by staff
changed without the storefront being told: there was no way to read a
pickup back. GET /api/v1/shipping/pickups/{id}/ answers it as the booking
did (the same serializer), under the read scope."""

import pytest

from shipping.models import PickupStatus
from shipping.services.pickups import pickups_past_sweep
from tests.shipping.helpers import api_client, pickup_day, scheduled_pickup
from tests.shipping.ups_answers import ups_account

pytestmark = pytest.mark.django_db


@pytest.fixture
def ups():
    return ups_account("ups-ship23")


def test_the_storefront_reads_a_pickup_the_schedule_marked_past(ups):
    day = pickup_day(-3)
    gone = scheduled_pickup(ups, "PRN-23", pickup_date=day)
    assert pickups_past_sweep() == 1

    answer = api_client("shipping:read").get(
        f"/api/v1/shipping/pickups/{gone.public_id}/"
    )

    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["id"] == gone.public_id
    assert body["status"] == PickupStatus.PAST
    assert body["account"] == "ups-ship23"
    assert body["confirmation_number"] == "PRN-23"
    assert body["pickup_date"] == day.isoformat()
    assert body["shipments"] == []


def test_a_cancelled_pickup_reads_cancelled(ups):
    pickup = scheduled_pickup(ups, "PRN-C", status=PickupStatus.CANCELLED)

    answer = api_client("shipping:read").get(
        f"/api/v1/shipping/pickups/{pickup.public_id}/"
    )

    assert answer.status_code == 200
    assert answer.json()["status"] == PickupStatus.CANCELLED


def test_no_such_pickup_is_a_404_in_the_error_shape():
    answer = api_client("shipping:read").get("/api/v1/shipping/pickups/pu_nope/")

    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


def test_reading_a_pickup_needs_the_read_scope(ups):
    pickup = scheduled_pickup(ups, "PRN-S")

    answer = api_client("payments:read").get(
        f"/api/v1/shipping/pickups/{pickup.public_id}/"
    )

    assert answer.status_code == 403
    assert "error" in answer.json()
    assert "PRN-S" not in answer.content.decode()


def test_the_schema_documents_the_pickup_read():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/v1/shipping/pickups/{public_id}/"]["get"]

    assert operation["operationId"] == "pickup_retrieve"
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["$ref"].endswith("/Pickup")
    assert "404" in operation["responses"]
