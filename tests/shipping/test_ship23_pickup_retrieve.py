"""A pickup marked ``past`` by the schedule, cancelled, or settled by staff
changed without the storefront being told: there was no way to read a
pickup back. GET /api/v1/shipping/pickups/{id}/ answers it as the booking
did (the same serializer), under the read scope."""

from datetime import UTC, timedelta

import pytest
from rest_framework.test import APIClient

from integrations.clock import database_now
from shipping.models import PickupStatus
from shipping.services.pickups import pickups_past_sweep
from tests.factories import ApiKeyFactory, ProviderAccountFactory
from tests.shipping.helpers import scheduled_pickup

pytestmark = pytest.mark.django_db


@pytest.fixture
def ups():
    return ProviderAccountFactory(
        kind="shipping",
        provider="ups",
        slug="ups-ship23",
        settings={"account_number": "A1B2C3", "max_attempts": 1},
        credentials={"client_id": "ups-client", "client_secret": "ups-secret"},
    )


def _client(*scopes: str) -> APIClient:
    client = APIClient()
    key = ApiKeyFactory(scopes=list(scopes))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    return client


def test_the_storefront_reads_a_pickup_the_schedule_marked_past(ups):
    day = database_now().astimezone(UTC).date() - timedelta(days=3)
    gone = scheduled_pickup(ups, "PRN-23", pickup_date=day)
    assert pickups_past_sweep() == 1

    answer = _client("shipping:read").get(f"/api/v1/shipping/pickups/{gone.public_id}/")

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

    answer = _client("shipping:read").get(
        f"/api/v1/shipping/pickups/{pickup.public_id}/"
    )

    assert answer.status_code == 200
    assert answer.json()["status"] == PickupStatus.CANCELLED


def test_no_such_pickup_is_a_404_in_the_error_shape():
    answer = _client("shipping:read").get("/api/v1/shipping/pickups/pu_nope/")

    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


def test_reading_a_pickup_needs_the_read_scope(ups):
    pickup = scheduled_pickup(ups, "PRN-S")

    answer = _client("payments:read").get(
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
