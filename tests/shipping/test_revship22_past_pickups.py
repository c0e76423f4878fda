"""A ``past`` pickup (its day gone, done or missed) as callers meet it: the
replay of its booking key days later, and its shipments, free for another
booking unless the carrier has them already (the driver came)."""

from datetime import UTC, time, timedelta
from decimal import Decimal

import pytest
from django.utils.module_loading import import_string
from rest_framework.test import APIClient

from integrations.clock import database_now
from integrations.models import IdempotencyRecord
from shipping import codec, services
from shipping.api_examples import PICKUP_REQUEST
from shipping.models import Pickup, PickupStatus, Shipment, ShipmentStatus
from shipping.providers.base import PickupRequest
from shipping.schedules import JOBS
from tests.factories import ApiKeyFactory
from tests.shipping.contract import requests
from tests.shipping.helpers import carrier, scheduled_pickup

pytestmark = pytest.mark.django_db
PICKUPS = "/api/v1/shipping/pickups/"


def _day(days: int):
    return database_now().astimezone(UTC).date() + timedelta(days=days)


def _days_pass(monkeypatch, days: int) -> None:
    """The database's clock ``days`` on, as the sweep and booking read it,
    and every stored Idempotency-Key answer as old (past its replay window)."""
    import shipping.providers.validation as validation

    real = validation.database_now
    monkeypatch.setattr(
        validation, "database_now", lambda: real() + timedelta(days=days)
    )
    for record in IdempotencyRecord.objects.all():
        IdempotencyRecord.objects.filter(pk=record.pk).update(
            created_at=record.created_at - timedelta(days=days)
        )


def _sweep() -> int:
    (job,) = [j for j in JOBS if j.name == "shipping.pickups_past"]
    # The job names its steps' counts (one that broke fails it): those it marked past.
    return import_string(job.func)()["marked_past"]


def _api() -> APIClient:
    key = ApiKeyFactory(scopes=["shipping:read", "shipping:write"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    return client


def _bought(account, number: str) -> Shipment:
    return Shipment.objects.create(
        account=account,
        from_address=codec.address_to_json(requests.SHIPPER),
        to_address=codec.address_to_json(requests.RECIPIENT),
        parcels=[codec.parcel_to_json(requests.PARCEL)],
        carrier="Sandbox",
        service_code="ground",
        amount=790,
        currency="USD",
        idempotency_key=f"held-{number}",
        status=ShipmentStatus.PURCHASED,
        tracking_number=number,
        carrier_shipment_id=number,
    )


def _book(client: APIClient, key: str, day, shipments=()):
    body = PICKUP_REQUEST | {
        "account": "post",
        "pickup_date": day.isoformat(),
        "shipments": list(shipments),
    }
    return client.post(PICKUPS, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_the_booking_key_replayed_after_its_day_passed_answers_booked_201(
    monkeypatch,
):
    carrier("post")
    client = _api()
    tomorrow = _day(1)
    first = _book(client, "rs22-replay", tomorrow)
    assert first.status_code == 201, first.content

    _days_pass(monkeypatch, 3)
    assert _sweep() == 1
    again = _book(client, "rs22-replay", tomorrow)

    # Booked, and its day gone: never the 202 of a booking in doubt.
    assert again.status_code == 201, again.content
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["status"] == "past"
    assert Pickup.objects.count() == 1


def test_a_shipment_the_carrier_scanned_after_a_past_pickup_is_not_booked_again(
    monkeypatch,
):
    account = carrier("post")
    collected, missed = _bought(account, "SBXRS2201"), _bought(account, "SBXRS2202")
    client = _api()
    ids = [collected.public_id, missed.public_id]
    assert _book(client, "rs22-first", _day(1), ids).status_code == 201
    _days_pass(monkeypatch, 3)
    assert _sweep() == 1
    # The driver came for one: the carrier scanned it in its network.
    Shipment.objects.filter(pk=collected.pk).update(tracking_status="in_transit")

    both = _book(client, "rs22-both", _day(4), ids)

    assert both.status_code == 409, both.content
    error = both.json()["error"]
    assert (error["code"], error["param"]) == ("already_collected", "shipments")
    assert collected.public_id in error["message"]
    assert Pickup.objects.count() == 1  # nothing stored, no carrier call
    # The missed one (no scan) is booked again, once.
    alone = _book(client, "rs22-missed", _day(4), [missed.public_id])
    assert alone.status_code == 201, alone.content
    twice = _book(client, "rs22-missed-2", _day(4), [missed.public_id])
    assert twice.status_code == 409
    assert twice.json()["error"]["code"] == "already_scheduled"


def test_a_shipment_whose_scans_say_it_moved_is_refused_by_the_service_too():
    # A status an earlier release moved back still counts (shipment_has_moved).
    account = carrier("post")
    shipment = _bought(account, "SBXRS2203")
    shipment.tracking_events.create(
        status="in_transit", occurred_at=database_now(), dedupe_key="rs22-moved"
    )
    request = PickupRequest(
        address=requests.SHIPPER,
        pickup_date=_day(1),
        ready_time=time(9),
        close_time=time(17),
        parcel_count=1,
        total_weight=Decimal("2.5"),
        idempotency_key="rs22-service",
    )

    with pytest.raises(services.InvalidState) as refused:
        services.pickup_schedule(
            account=account, request=request, shipment_ids=[shipment.public_id]
        )

    assert refused.value.code == "already_collected"
    assert not Pickup.objects.exists()


@pytest.mark.parametrize(
    "left",
    [
        # Our cancel in doubt: the sweep leaves it scheduled for the
        # carrier's answer, which nobody may ask for again.
        {"status": PickupStatus.SCHEDULED, "cancel_requested_at": True},
        # A booking whose answer was lost, never settled by staff.
        {"status": PickupStatus.UNKNOWN},
    ],
    ids=["cancel_in_doubt", "booking_unknown"],
)
def test_a_pickup_whose_day_passed_holds_its_shipments_no_more(left):
    # Its day is gone: a booking for another day sends no second driver.
    account = carrier("post")
    shipment = _bought(account, "SBXRS2204")
    values = dict(left)
    if values.pop("cancel_requested_at", False):
        values["cancel_requested_at"] = database_now()
    old = scheduled_pickup(account, "PRN-RS22-OLD", pickup_date=_day(-3), **values)
    old.shipments.set([shipment])
    assert _sweep() == 0

    answer = _book(_api(), "rs22-after", _day(1), [shipment.public_id])

    assert answer.status_code == 201, answer.content
    assert Pickup.objects.get(pk=old.pk).status == left["status"]


def test_a_pickup_of_yesterday_still_holds_its_shipments():
    # Yesterday in UTC is still today in the Americas: the driver may come.
    account = carrier("post")
    shipment = _bought(account, "SBXRS2205")
    held = scheduled_pickup(account, "PRN-RS22-Y", pickup_date=_day(-1))
    held.shipments.set([shipment])

    answer = _book(_api(), "rs22-yesterday", _day(1), [shipment.public_id])

    assert answer.status_code == 409, answer.content
    assert answer.json()["error"]["code"] == "already_scheduled"


def test_a_scan_we_could_not_read_does_not_refuse_the_booking():
    # No proof the carrier has it: the pickup is booked.
    account = carrier("post")
    shipment = _bought(account, "SBXRS2206")
    shipment.tracking_events.create(
        status="unknown", occurred_at=database_now(), dedupe_key="rs22-unread"
    )

    answer = _book(_api(), "rs22-unread", _day(1), [shipment.public_id])

    assert answer.status_code == 201, answer.content
