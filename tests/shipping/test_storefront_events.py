"""What a shop learns about its labels and pickups by webhook: it may
subscribe to ``shipment.voided`` and ``pickup.*``, and each real change is
delivered once with its documented payload (no provider text, money in
minor units with its currency)."""

import json
from datetime import time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook

from integrations.events import event_delivery_run
from integrations.models import Event, EventDelivery
from integrations.testing.faultserver import FaultServer, respond
from shipping import services
from shipping.providers.base import PickupRequest
from storefront_hooks import services as hooks
from storefront_hooks.models import WebhookDelivery
from storefront_hooks.schema import PARCEL_LABEL_DATA, PICKUP_DATA, SHIPMENT_DATA
from tests.factories import ApiKeyFactory
from tests.shipping.contract import requests
from tests.shipping.helpers import carrier
from tests.shipping.test_labels import _quote

pytestmark = pytest.mark.django_db
HOOK = "/hooks"
FAMILIES = ("payment", "shipment", "pickup", "inventory", "email")


@pytest.fixture(autouse=True)
def _fan_out(settings) -> None:
    # The storefront's subscription to the public families (config/settings).
    settings.SWITCHYARD_EVENT_SUBSCRIBERS = {
        f"{family}.*": ["storefront_hooks.services.event_fan_out"]
        for family in FAMILIES
    }
    settings.STOREFRONT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    settings.STOREFRONT_WEBHOOK_READ_TIMEOUT = 1.0


@pytest.fixture
def receiver():
    with FaultServer(hang_limit=3.0) as server:
        server.route("POST", HOOK, respond(204))
        yield server


def _subscribe(receiver, event_types: list[str]) -> str:
    client = APIClient()
    key = ApiKeyFactory(scopes=["webhooks:manage"])
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    body = {"url": receiver.url_for(HOOK), "event_types": event_types}
    answer = client.post("/api/v1/webhook-endpoints/", body, format="json")
    assert answer.status_code == 201, answer.json()
    return answer.json()["secret"]


def _deliver_outbox() -> None:
    """Run the outbox, then send each storefront delivery; what arrived."""
    for pk in EventDelivery.objects.order_by("pk").values_list("pk", flat=True):
        event_delivery_run(delivery_id=pk)
    for pk in WebhookDelivery.objects.order_by("pk").values_list("pk", flat=True):
        hooks.delivery_send(delivery_id=pk)


def _received(receiver, secret: str) -> list[dict]:
    return [
        Webhook(secret).verify(request.body, request.headers)
        for request in receiver.requests_for("POST", HOOK)
    ]


def test_a_shop_subscribed_to_voids_is_told_once_its_label_was_voided(receiver):
    secret = _subscribe(receiver, ["shipment.voided"])
    quote = _quote(carrier("post"))
    shipment = services.shipment_buy(
        quote_id=quote.public_id, idempotency_key="b1", order_id="ord_7"
    )

    services.shipment_void(shipment=shipment)
    services.shipment_void(shipment=shipment)  # a second click: done, not told again
    _deliver_outbox()

    (message,) = _received(receiver, secret)  # not the label_created
    assert message["type"] == "shipment.voided"
    data = message["data"]
    assert data["shipment"] == shipment.public_id
    assert (data["order_id"], data["status"]) == ("ord_7", "voided")
    assert data["tracking_number"] == shipment.tracking_number
    assert isinstance(data["amount"], int) and data["currency"] == "USD"
    assert set(data) <= set(SHIPMENT_DATA["properties"])
    assert set(SHIPMENT_DATA["required"]) <= set(data)


def _request(key: str) -> PickupRequest:
    return PickupRequest(
        address=requests.SHIPPER,
        pickup_date=timezone.localdate() + timedelta(days=1),
        ready_time=time(9),
        close_time=time(17),
        parcel_count=1,
        total_weight=Decimal("2.5"),
        idempotency_key=key,
    )


def test_a_shop_subscribed_to_pickups_is_told_once_of_booking_and_cancel(
    receiver,
):
    secret = _subscribe(receiver, ["pickup.*"])
    account = carrier("post")
    quote = _quote(account)
    shipment = services.shipment_buy(quote_id=quote.public_id, idempotency_key="b2")
    pickup = services.pickup_schedule(
        account=account, request=_request("p1"), shipment_ids=[shipment.public_id]
    )
    services.pickup_schedule(account=account, request=_request("p1"))  # replay

    services.pickup_cancel(pickup=pickup)
    services.pickup_cancel(pickup=pickup)  # cancelled already: no news
    _deliver_outbox()

    messages = _received(receiver, secret)
    assert [m["type"] for m in messages] == ["pickup.scheduled", "pickup.cancelled"]
    for message in messages:
        data = message["data"]
        assert data["pickup"] == pickup.public_id
        assert data["confirmation_number"] == pickup.confirmation_number
        assert data["pickup_date"] == pickup.pickup_date.isoformat()
        assert data["shipments"] == [shipment.public_id]
        assert set(data) <= set(PICKUP_DATA["properties"])
        assert set(PICKUP_DATA["required"]) <= set(data)
    assert [m["data"]["status"] for m in messages] == ["scheduled", "cancelled"]


@pytest.mark.parametrize(
    ("name", "pattern"),
    [
        ("pickup.cancel_not_applied", "pickup.*"),
        ("pickup.cancel_after_settle", "pickup.*"),
        ("shipment.refund_rejected", "shipment.*"),
    ],
)
def test_staff_notes_about_shipping_never_reach_the_shop(receiver, name, pattern):
    secret = _subscribe(receiver, [pattern])
    event = Event.objects.create(name=name, subject="pu_1", payload={"pickup": "pu_1"})
    hooks.event_fan_out(event)

    assert not WebhookDelivery.objects.exists()
    assert _received(receiver, secret) == []


def test_the_schema_documents_the_shipping_events():
    answer = APIClient().get("/api/schema/", {"format": "json"})
    schemas = json.loads(answer.content)["components"]["schemas"]
    for name in ("shipment_voided", "pickup_scheduled", "pickup_cancelled"):
        envelope = schemas[f"StorefrontWebhook_{name}"]
        assert envelope["properties"]["data"]["$ref"].startswith(
            "#/components/schemas/StorefrontWebhook"
        )
    assert "confirmation_number" in schemas["StorefrontWebhookPickupData"]["properties"]


def test_a_shop_told_its_label_was_voided_is_told_when_the_carrier_undoes_it(
    receiver,
):
    """Shippo rejects a refund it had accepted (REFUNDREJECTED): the label is
    valid and billed again, and the shop that had ``shipment.voided`` hears
    ``shipment.void_rejected`` once, with the shipment's payload."""
    from shipping.providers.base import LabelUpdate

    secret = _subscribe(receiver, ["shipment.voided", "shipment.void_rejected"])
    quote = _quote(carrier("post"))
    shipment = services.shipment_buy(
        quote_id=quote.public_id, idempotency_key="b3", order_id="ord_8"
    )
    services.shipment_void(shipment=shipment)
    rejected = LabelUpdate(shipment.carrier_shipment_id, refund_rejected=True)

    for _ in range(2):  # a replayed webhook changes nothing more
        services.shipment_void_rejected_apply(shipment=shipment, update=rejected)
    _deliver_outbox()

    messages = _received(receiver, secret)
    assert [m["type"] for m in messages] == [
        "shipment.voided",
        "shipment.void_rejected",
    ]
    data = messages[1]["data"]
    assert (data["shipment"], data["order_id"]) == (shipment.public_id, "ord_8")
    assert data["status"] == "purchased"
    assert set(data) <= set(SHIPMENT_DATA["properties"])
    assert set(SHIPMENT_DATA["required"]) <= set(data)


def test_a_shop_is_told_when_one_parcels_label_dies_and_comes_back(receiver):
    """A parcel's label refunded at the carrier (the shipment stays bought
    with its other label): ``shipment.label_voided`` naming it, once; its
    refund rejected: ``shipment.label_void_rejected``, once."""
    from shipping.models import ShipmentParcel
    from shipping.providers.base import LabelUpdate

    names = ["shipment.label_voided", "shipment.label_void_rejected"]
    secret = _subscribe(receiver, [*names, "shipment.voided"])
    quote = _quote(carrier("post"))
    shipment = services.shipment_buy(
        quote_id=quote.public_id, idempotency_key="b4", order_id="ord_9"
    )
    for sequence, reference in enumerate((shipment.carrier_shipment_id, "t2"), 1):
        ShipmentParcel.objects.create(
            shipment=shipment,
            sequence=sequence,
            tracking_number=f"PN{sequence}",
            carrier_reference=reference,
        )
    refunded = LabelUpdate("t2", refunded=True)
    rejected = LabelUpdate("t2", refund_rejected=True)

    for _ in range(2):  # a redelivered webhook changes nothing more
        services.shipment_void_refunded_apply(shipment=shipment, update=refunded)
    for _ in range(2):
        services.shipment_void_rejected_apply(shipment=shipment, update=rejected)
    _deliver_outbox()

    messages = _received(receiver, secret)
    assert [m["type"] for m in messages] == names
    for message in messages:
        data = message["data"]
        assert (data["parcel"], data["parcel_tracking_number"]) == (2, "PN2")
        assert (data["shipment"], data["status"]) == (shipment.public_id, "purchased")
        assert set(data) <= set(PARCEL_LABEL_DATA["properties"])
        assert set(PARCEL_LABEL_DATA["required"]) <= set(data)


def test_a_shop_is_told_once_its_parcel_was_delivered(receiver):
    from shipping.providers.tracking_types import (
        TrackingEvent,
        TrackingInfo,
        TrackingStatus,
    )
    from storefront_hooks.schema import TRACKING_DATA

    secret = _subscribe(receiver, ["shipment.delivered"])
    quote = _quote(carrier("post"))
    shipment = services.shipment_buy(quote_id=quote.public_id, idempotency_key="b4")
    now = timezone.now()

    for minutes, code in ((0, "DL"), (5, "DL2")):  # a second delivered scan
        done = TrackingEvent(
            status=TrackingStatus.DELIVERED,
            occurred_at=now + timedelta(minutes=minutes),
            carrier_status_code=code,
            description="Delivered",
        )
        info = TrackingInfo(shipment.tracking_number, done.status, (done,))
        services.shipment_tracking_apply(shipment=shipment, info=info)
    _deliver_outbox()

    (message,) = _received(receiver, secret)
    assert message["type"] == "shipment.delivered"
    data = message["data"]
    assert (data["shipment"], data["tracking_status"]) == (
        shipment.public_id,
        "delivered",
    )
    assert set(data) <= set(TRACKING_DATA["properties"])
    assert set(TRACKING_DATA["required"]) <= set(data)


def test_a_shop_left_with_an_unknown_pickup_is_told_it_failed(receiver):
    """A 202 ``unknown`` pickup that staff find was not booked ends
    ``failed``: the shop hears ``pickup.failed`` once (no carrier text)."""
    from shipping.models import PickupStatus
    from tests.shipping.helpers import scheduled_pickup

    secret = _subscribe(receiver, ["pickup.*"])
    pickup = scheduled_pickup(
        carrier("post"), "", status=PickupStatus.UNKNOWN, failure_message="E99 x"
    )

    services.pickup_resolve(pickup=pickup)  # staff: not booked
    with pytest.raises(services.InvalidState):
        services.pickup_resolve(pickup=pickup)  # settled already
    _deliver_outbox()

    (message,) = _received(receiver, secret)
    assert message["type"] == "pickup.failed"
    data = message["data"]
    assert (data["pickup"], data["status"]) == (pickup.public_id, "failed")
    assert "E99" not in json.dumps(data)
    assert set(data) <= set(PICKUP_DATA["properties"])
    assert set(PICKUP_DATA["required"]) <= set(data)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("shipment_void_rejected", "StorefrontWebhookShipmentData"),
        ("shipment_label_voided", "StorefrontWebhookParcelLabelData"),
        ("shipment_label_void_rejected", "StorefrontWebhookParcelLabelData"),
        ("shipment_delivered", "StorefrontWebhookTrackingData"),
        ("shipment_tracking_updated", "StorefrontWebhookTrackingData"),
        ("pickup_failed", "StorefrontWebhookPickupData"),
    ],
)
def test_the_schema_documents_the_later_shipping_events(name, data):
    answer = APIClient().get("/api/schema/", {"format": "json"})
    schemas = json.loads(answer.content)["components"]["schemas"]
    envelope = schemas[f"StorefrontWebhook_{name}"]
    assert envelope["properties"]["data"]["$ref"] == f"#/components/schemas/{data}"
    assert data in schemas
