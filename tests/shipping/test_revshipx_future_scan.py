"""A scan the carrier dates in the future (a drifting clock, a local time
read as UTC) is ordered as received now: it never stops later real scans from
moving the shipment until its date, and never dates a delivery ahead. The
history keeps the carrier's own time."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.events import Event
from shipping import services
from shipping.models import ShipmentStatus
from shipping.providers.tracking_types import (
    TrackingEvent,
    TrackingInfo,
    TrackingStatus,
)
from tests.shipping.helpers import carrier
from tests.shipping.test_models import _shipment

pytestmark = pytest.mark.django_db


def _bought():
    return _shipment(
        carrier("post"),
        status=ShipmentStatus.PURCHASED,
        tracking_status="pre_transit",
        tracking_number="1Z999",
        carrier_shipment_id="1Z999",
    )


def _scan(status, at, code="X"):
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


def test_a_scan_dated_days_ahead_does_not_stop_later_real_scans():
    shipment = _bought()
    now = timezone.now()
    _apply(shipment, _scan(TrackingStatus.IN_TRANSIT, now + timedelta(days=2), "A"))
    assert shipment.tracking_status == "in_transit"

    _apply(
        shipment,
        _scan(TrackingStatus.OUT_FOR_DELIVERY, now + timedelta(minutes=1), "B"),
    )
    assert shipment.tracking_status == "out_for_delivery"
    _apply(shipment, _scan(TrackingStatus.DELIVERED, now + timedelta(minutes=2), "C"))

    shipment.refresh_from_db()
    assert shipment.tracking_status == "delivered"
    assert Event.objects.filter(name="shipment.delivered").count() == 1
    # The carrier's own time stays in the history.
    stored = shipment.tracking_events.get(carrier_status_code="A")
    assert stored.occurred_at == now + timedelta(days=2)


def test_a_carrier_hours_ahead_is_followed_in_its_own_order_then_overtaken():
    # A carrier sending its local time as UTC: every scan hours ahead.
    shipment = _bought()
    now = timezone.now()
    ahead = now + timedelta(hours=8)
    _apply(
        shipment,
        _scan(TrackingStatus.IN_TRANSIT, ahead, "A"),
        _scan(TrackingStatus.OUT_FOR_DELIVERY, ahead + timedelta(minutes=10), "B"),
    )
    assert shipment.tracking_status == "out_for_delivery"
    assert shipment.tracking_event_at <= timezone.now()

    # Another source (a webhook in UTC) with the delivery a moment later.
    _apply(shipment, _scan(TrackingStatus.DELIVERED, now + timedelta(minutes=1), "C"))
    assert shipment.tracking_status == "delivered"


def test_a_delivery_dated_ahead_is_dated_when_received():
    shipment = _bought()
    before = timezone.now()
    _apply(shipment, _scan(TrackingStatus.DELIVERED, before + timedelta(hours=10)))
    shipment.refresh_from_db()
    assert shipment.tracking_status == "delivered"
    assert before <= shipment.delivered_at <= timezone.now()


def test_a_scan_minutes_ahead_does_not_outrank_one_received_after_it():
    shipment = _bought()
    now = timezone.now()
    _apply(shipment, _scan(TrackingStatus.IN_TRANSIT, now + timedelta(minutes=10), "A"))
    _apply(
        shipment,
        _scan(TrackingStatus.OUT_FOR_DELIVERY, now + timedelta(seconds=1), "B"),
    )
    assert shipment.tracking_status == "out_for_delivery"


def test_a_status_followed_from_a_future_date_before_this_release_is_overtaken():
    shipment = _bought()
    shipment.tracking_status = "in_transit"
    shipment.tracking_event_at = timezone.now() + timedelta(days=30)
    shipment.last_tracked_at = timezone.now() - timedelta(hours=1)
    shipment.save()

    _apply(shipment, _scan(TrackingStatus.DELIVERED, timezone.now()))
    assert shipment.tracking_status == "delivered"
    assert shipment.delivered_at <= timezone.now()
