"""A pickup the hourly sweep marks ``past`` (its day gone: done or missed)
told the storefront nothing; it had to poll GET /api/v1/shipping/pickups/{id}/.
Now the change emits ``pickup.past`` once, in its transaction, through the
outbox the other pickup events use, with their payload; it is in the event
catalogue and the schema."""

import json

import pytest
from rest_framework.test import APIClient

from integrations.clock import database_now
from integrations.models import Event
from shipping.models import Pickup, PickupStatus
from shipping.services.pickups import pickups_past_sweep
from storefront_hooks.catalog import EVENT_TYPES
from storefront_hooks.schema import PICKUP_DATA
from tests.shipping.helpers import pickup_day, scheduled_pickup
from tests.shipping.test_storefront_events import (  # noqa: F401
    _deliver_outbox,
    _fan_out,
    _received,
    _subscribe,
    receiver,
)
from tests.shipping.ups_answers import ups_account

pytestmark = pytest.mark.django_db


@pytest.fixture
def ups():
    return ups_account("ups-ship24-past")


def test_a_pickup_marked_past_emits_pickup_past_once(ups):
    gone = scheduled_pickup(ups, "PRN-GONE", pickup_date=pickup_day(-2))
    scheduled_pickup(ups, "PRN-KEPT", pickup_date=pickup_day(-1))  # still in the window
    scheduled_pickup(
        ups, "PRN-OVER", pickup_date=pickup_day(-3), status=PickupStatus.CANCELLED
    )

    assert pickups_past_sweep() == 1
    assert pickups_past_sweep() == 0  # once

    (event,) = Event.objects.filter(name__startswith="pickup.")
    assert event.name == "pickup.past"
    assert event.subject == gone.public_id
    assert event.payload["status"] == "past"
    assert event.payload["confirmation_number"] == "PRN-GONE"
    assert event.payload["pickup_date"] == pickup_day(-2).isoformat()
    assert Pickup.objects.get(pk=gone.pk).status == PickupStatus.PAST


def test_a_pickup_with_a_cancel_in_doubt_waits_and_emits_nothing(ups):
    scheduled_pickup(
        ups, "PRN-DOUBT", pickup_date=pickup_day(-2), cancel_requested_at=database_now()
    )

    assert pickups_past_sweep() == 0

    assert not Event.objects.filter(name="pickup.past").exists()


def test_a_shop_subscribed_to_pickups_hears_its_pickup_is_past(ups, receiver):  # noqa: F811
    secret = _subscribe(receiver, ["pickup.past"])
    gone = scheduled_pickup(ups, "PRN-HEARD", pickup_date=pickup_day(-2))

    pickups_past_sweep()
    _deliver_outbox()

    (message,) = _received(receiver, secret)
    assert message["type"] == "pickup.past"
    data = message["data"]
    assert (data["pickup"], data["status"]) == (gone.public_id, "past")
    assert set(data) <= set(PICKUP_DATA["properties"])
    assert set(PICKUP_DATA["required"]) <= set(data)


def test_the_catalogue_and_schema_document_pickup_past():
    assert "pickup.past" in EVENT_TYPES
    assert "past" in PICKUP_DATA["properties"]["status"]["enum"]
    answer = APIClient().get("/api/schema/", {"format": "json"})
    schemas = json.loads(answer.content)["components"]["schemas"]
    envelope = schemas["StorefrontWebhook_pickup_past"]
    ref = "#/components/schemas/StorefrontWebhookPickupData"
    assert envelope["properties"]["data"]["$ref"] == ref
