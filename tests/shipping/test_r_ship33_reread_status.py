"""A scan stored once and read again with another status of ours is one row
(ship33), but what it now says still moves the shipment on.

ship33 keyed scans on the carrier's facts only and left a re-read scan out
of everything: no row (right), and no status either. A scan stored before
its code was in the adapter's table (``unknown``, never followed) and read
after the table learnt it, or an out-for-delivery read as the parcel going
back once UPS lists the return scan it lacked, then never moved the
shipment: polled for ever, the shop never told."""

from datetime import UTC, datetime, timedelta

import pytest

from integrations.models import Event
from shipping import services
from shipping.models import Shipment, TrackingEvent
from shipping.providers.tracking_types import TrackingEvent as CarrierEvent
from shipping.providers.tracking_types import TrackingInfo, TrackingStatus
from tests.shipping.test_ship24_ups_current_status import (  # noqa: F401
    LABEL,
    LABEL_AT,
    _activity,
    _answer,
    bought,
)
from tests.shipping.ups_answers import NUMBER, poll

pytestmark = pytest.mark.django_db

MOVED = _activity("I", "DP", "Departed from Facility", LABEL_AT + timedelta(hours=5))
RETURN = _activity("RS", "RS", "Returned to shipper", LABEL_AT + timedelta(days=2))
OUT = _activity("I", "OT", "Out For Delivery Today", LABEL_AT + timedelta(days=3))


def _events(shipment: Shipment, name: str) -> int:
    return Event.objects.filter(name=name, subject=shipment.public_id).count()


def _read(*scans: tuple[TrackingStatus, str, int]) -> TrackingInfo:
    at = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    events = tuple(
        CarrierEvent(
            status=status,
            occurred_at=at + timedelta(hours=hours),
            carrier_status_code=code,
            description=code,
        )
        for status, code, hours in scans
    )
    return TrackingInfo(tracking_number=NUMBER, status=events[-1].status, events=events)


def test_a_scan_stored_unread_and_read_later_as_delivered_delivers(bought):  # noqa: F811
    # A delivery code the table lacked: stored, never followed.
    moving = (TrackingStatus.IN_TRANSIT, "DP", 0)
    services.shipment_tracking_apply(
        shipment=bought, info=_read(moving, (TrackingStatus.UNKNOWN, "KZ", 5))
    )
    bought.refresh_from_db()
    assert bought.tracking_status == TrackingStatus.IN_TRANSIT

    # The table knows it now: the same scan reads delivered.
    services.shipment_tracking_apply(
        shipment=bought, info=_read(moving, (TrackingStatus.DELIVERED, "KZ", 5))
    )
    bought.refresh_from_db()

    assert bought.tracking_status == TrackingStatus.DELIVERED
    assert TrackingEvent.objects.filter(shipment=bought).count() == 2
    assert _events(bought, "shipment.delivered") == 1

    # Read so again: nothing new, nobody told again.
    told = _events(bought, "shipment.tracking_updated")
    services.shipment_tracking_apply(
        shipment=bought, info=_read(moving, (TrackingStatus.DELIVERED, "KZ", 5))
    )
    assert _events(bought, "shipment.tracking_updated") == told
    assert _events(bought, "shipment.delivered") == 1


def test_out_for_delivery_read_again_after_a_late_return_scan_is_returned(bought):  # noqa: F811
    poll(bought, _answer(None, OUT, MOVED, LABEL))
    assert bought.tracking_status == TrackingStatus.OUT_FOR_DELIVERY

    # UPS now lists the return scan before it: the parcel is going back.
    poll(bought, _answer(None, OUT, RETURN, MOVED, LABEL))

    assert bought.tracking_status == TrackingStatus.RETURNED
    assert (
        TrackingEvent.objects.filter(shipment=bought, carrier_status_code="OT").count()
        == 1
    )
