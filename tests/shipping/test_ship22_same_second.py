"""Scans dated to the same second (Shippo's status_date has no fraction):
the status follows, and the timeline lists last, the newest in the carrier's
own order. Shippo's tracking_history runs oldest first (its spec: "starting
with the earlier tracking event first") and its tracking_status is the
latest; UPS, FedEx, USPS and DHL Express list the newest first."""

import copy
import json

import pytest
import responses
from django.test import Client
from rest_framework.test import APIClient

from shipping import services
from shipping.models import Shipment, ShipmentStatus
from shipping.providers.tracking_types import TrackingStatus
from shipping.providers.ups import UPSAdapter
from shipping.selectors import shipment_timeline
from tests.factories import ApiKeyFactory, ProviderAccountFactory
from tests.shipping.contract import requests as shared
from tests.shipping.providers.wire import load
from tests.shipping.ups_answers import NUMBER as UPS_NUMBER
from tests.shipping.ups_answers import (
    TOKEN_URL,
    package,
    track_url,
    ups_account,
    ups_shipment,
)

pytestmark = pytest.mark.django_db

NUMBER = "9205590164917312751089"
HOOK_TOKEN = "whk-ship22-" + "t" * 24
TRACK_URL = f"https://api.goshippo.com/tracks/usps/{NUMBER}"
SECOND = "2016-07-23T13:58:00Z"


def _track(*entries, current):
    """track.json with ``entries`` (indexes into its history, or dicts) as
    the history and ``current`` as tracking_status."""
    track = load("shippo", "track.json")
    spec = track["tracking_history"]
    track["tracking_history"] = [spec[e] if isinstance(e, int) else e for e in entries]
    track["tracking_status"] = spec[current] if isinstance(current, int) else current
    return track


def _at_second(entry_index: int, **changes) -> dict:
    entry = copy.deepcopy(load("shippo", "track.json")["tracking_history"][entry_index])
    entry.update(status_date=SECOND, **changes)
    return entry


def _shipment() -> Shipment:
    account = ProviderAccountFactory(
        kind="shipping",
        provider="shippo",
        slug="shippo-main",
        settings={"max_attempts": 1, "breaker_consecutive_failures": 50},
        credentials={"api_token": "shippo_test_ship22", "webhook_token": HOOK_TOKEN},
    )
    return Shipment.objects.create(
        account=account,
        from_address={},
        to_address={},
        parcels=[],
        carrier="USPS",
        service_code="usps_priority",
        amount=790,
        currency="USD",
        idempotency_key="ship22-1",
        status=ShipmentStatus.PURCHASED,
        tracking_status="pre_transit",
        tracking_number=NUMBER,
        carrier_shipment_id="tx-ship22",
    )


def _poll(shipment: Shipment, track: dict) -> None:
    with responses.RequestsMock() as mocked:
        mocked.get(TRACK_URL, json=track)
        services.shipment_tracking_refresh(shipment=shipment)
    shipment.refresh_from_db()


def _hook(shipment: Shipment, track: dict, callbacks) -> None:
    body = json.dumps({"event": "track_updated", "test": False, "data": track})
    with callbacks(execute=True):
        answer = Client().post(
            f"/webhooks/shippo-main/?token={HOOK_TOKEN}",
            data=body,
            content_type="application/json",
        )
    assert answer.status_code == 200, answer.content
    shipment.refresh_from_db()


def _listed(shipment: Shipment) -> list[str]:
    client = APIClient()
    key = ApiKeyFactory(scopes=["shipping:read"])
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    answer = client.get(f"/api/v1/shipping/shipments/{shipment.public_id}/")
    assert answer.status_code == 200, answer.content
    return [e["status"] for e in answer.json()["tracking_events"]]


def _timeline(shipment: Shipment) -> list[str]:
    return [e.title for e in shipment_timeline(shipment) if e.kind == "tracking"]


def test_a_shippo_poll_out_for_delivery_and_delivered_in_one_second_ends_delivered():
    shipment = _shipment()
    # Out for delivery and delivered dated to one second, oldest first.
    track = _track(0, 1, _at_second(2), 3, current=3)

    _poll(shipment, track)

    assert shipment.tracking_status == "delivered"
    assert shipment.delivered_at is not None
    assert _listed(shipment)[-2:] == ["out_for_delivery", "delivered"]
    assert _timeline(shipment)[-1].startswith("Delivered")


def test_a_shippo_webhook_carrying_the_history_follows_its_current_status(
    django_capture_on_commit_callbacks,
):
    shipment = _shipment()
    transit = _at_second(1)
    track = _track(0, transit, _at_second(2), current=_at_second(2))

    _hook(shipment, track, django_capture_on_commit_callbacks)

    assert shipment.tracking_status == "out_for_delivery"
    assert _listed(shipment) == ["pre_transit", "in_transit", "out_for_delivery"]
    assert _timeline(shipment)[-1].startswith("Out for delivery")


def test_a_later_answer_filling_in_an_older_scan_of_that_second_keeps_the_status(
    django_capture_on_commit_callbacks,
):
    shipment = _shipment()
    out = _at_second(2)
    # The current state before the history lists it (it fills as reported).
    _hook(shipment, _track(0, current=out), django_capture_on_commit_callbacks)
    assert shipment.tracking_status == "out_for_delivery"

    # The next answer lists an older scan of that second before it.
    _poll(shipment, _track(0, _at_second(1), out, current=out))

    assert shipment.tracking_status == "out_for_delivery"
    assert shipment.tracking_events.count() == 3


def test_the_current_status_is_the_newest_of_its_second_even_listed_before():
    shipment = _shipment()
    out = _at_second(2)
    # A history that lists the current state before another of its second.
    _poll(shipment, _track(0, out, _at_second(1), current=out))

    assert shipment.tracking_status == "out_for_delivery"
    assert _listed(shipment)[-1] == "out_for_delivery"


def test_ups_newest_first_activities_of_one_second_follow_the_first_listed():
    # The other carriers share the path: UPS lists the newest first.
    account = ups_account("ups-ship22")
    answer = load("ups", "track_response.json")
    ups_package = package(answer)
    delivered, created = ups_package["activity"]
    transit = copy.deepcopy(delivered)
    transit["status"] = {"type": "I", "description": "On the way", "code": "OR"}
    ups_package["activity"] = [delivered, transit, created]
    shipment = ups_shipment(account, "ship22-ups", tracking_status="pre_transit")
    with responses.RequestsMock() as mocked:
        mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
        mocked.get(track_url(), json=answer)
        info = UPSAdapter(account).track(shared.track_request(UPS_NUMBER))
    assert [e.status for e in info.events][-2:] == [
        TrackingStatus.IN_TRANSIT,
        TrackingStatus.DELIVERED,
    ]

    services.shipment_tracking_apply(shipment=shipment, info=info)

    shipment.refresh_from_db()
    assert shipment.tracking_status == "delivered"
    assert _listed(shipment)[-1] == "delivered"
