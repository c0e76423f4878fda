"""Tracking events are listed (API, admin timeline) by the time the status
follows: the carrier's, but never after we received the scan; ties (one
poll's scans all dated ahead) in the carrier's own order. A scan dated days
ahead no longer lists last, after the real scans that moved the shipment on;
the carrier's own time is still what ``occurred_at`` says."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from shipping import services
from shipping.models import ShipmentStatus
from shipping.providers.tracking_types import (
    TrackingEvent,
    TrackingInfo,
    TrackingStatus,
)
from shipping.selectors import shipment_timeline
from tests.factories import ApiKeyFactory
from tests.shipping.helpers import carrier
from tests.shipping.test_models import _shipment

pytestmark = pytest.mark.django_db


@pytest.fixture
def api() -> APIClient:
    key = ApiKeyFactory(scopes=["shipping:read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    return client


def _bought():
    return _shipment(
        carrier("post"),
        status=ShipmentStatus.PURCHASED,
        tracking_status="pre_transit",
        tracking_number="1Z999",
        carrier_shipment_id="1Z999",
    )


def _scan(status, at, code):
    return TrackingEvent(
        status=status, occurred_at=at, carrier_status_code=code, description=code
    )


def _apply(shipment, *events):
    info = TrackingInfo(
        tracking_number=shipment.tracking_number,
        status=events[-1].status,
        events=tuple(events),
    )
    return services.shipment_tracking_apply(shipment=shipment, info=info)


def _listed(api, shipment):
    answer = api.get(f"/api/v1/shipping/shipments/{shipment.public_id}/")
    assert answer.status_code == 200, answer.content
    return [e["carrier_status_code"] for e in answer.json()["tracking_events"]]


def _timeline_codes(shipment):
    return [
        entry.title.rsplit(": ", 1)[-1]
        for entry in shipment_timeline(shipment)
        if entry.kind == "tracking"
    ]


def test_a_scan_dated_days_ahead_lists_before_the_real_scans_received_after(api):
    shipment = _bought()
    ahead = timezone.now() + timedelta(days=2)
    _apply(shipment, _scan(TrackingStatus.IN_TRANSIT, ahead, "A"))
    _apply(shipment, _scan(TrackingStatus.OUT_FOR_DELIVERY, timezone.now(), "B"))
    shipment.refresh_from_db()
    assert shipment.tracking_status == "out_for_delivery"

    assert _listed(api, shipment) == ["A", "B"]
    assert _timeline_codes(shipment) == ["A", "B"]
    answer = api.get(f"/api/v1/shipping/shipments/{shipment.public_id}/").json()
    # The carrier's own time is still what the event says.
    assert answer["tracking_events"][0]["occurred_at"].startswith(
        ahead.isoformat()[:19]
    )


def test_the_admin_timeline_says_the_carrier_dated_a_scan_ahead():
    shipment = _bought()
    ahead = timezone.now() + timedelta(days=2)
    _apply(shipment, _scan(TrackingStatus.IN_TRANSIT, ahead, "A"))
    (entry,) = [e for e in shipment_timeline(shipment) if e.kind == "tracking"]
    assert entry.at <= timezone.now()
    assert f"dated {ahead:%Y-%m-%d %H:%M} UTC by the carrier" in entry.detail


def test_one_polls_scans_all_dated_ahead_list_in_the_carriers_order(api):
    # A carrier sending local time as UTC, its newest scan first.
    shipment = _bought()
    ahead = timezone.now() + timedelta(hours=8)
    _apply(
        shipment,
        _scan(TrackingStatus.OUT_FOR_DELIVERY, ahead + timedelta(minutes=10), "Y"),
        _scan(TrackingStatus.IN_TRANSIT, ahead, "X"),
    )
    shipment.refresh_from_db()
    assert shipment.tracking_status == "out_for_delivery"
    assert _listed(api, shipment) == ["X", "Y"]
    assert _timeline_codes(shipment) == ["X", "Y"]


def test_past_scans_received_late_still_list_by_the_carriers_time(api):
    # A webhook bringing an older scan after a newer one was polled.
    shipment = _bought()
    now = timezone.now()
    _apply(shipment, _scan(TrackingStatus.IN_TRANSIT, now - timedelta(hours=1), "N"))
    _apply(shipment, _scan(TrackingStatus.IN_TRANSIT, now - timedelta(hours=2), "O"))
    assert _listed(api, shipment) == ["O", "N"]
    assert _timeline_codes(shipment) == ["O", "N"]
