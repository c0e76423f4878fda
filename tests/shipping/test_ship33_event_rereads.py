"""A carrier scan read again with another status of ours is the same scan.

A tracking event's dedupe key hashed our mapped status with the carrier's
time, code and text. The mapping of one scan can change: a delivery read as
``delivered`` reads ``returned`` once a return scan precedes it (a poll
listing a return scan the last one lacked, or a scan stored before that
rule). The re-read was a new key: the scan stored twice on the timeline and
a ``shipment.tracking_updated`` sent for nothing new. The key is now the
carrier's facts alone; rows keyed the old way are still recognised."""

import hashlib
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
DELIVERY = _activity("D", "KB", "Delivered", LABEL_AT + timedelta(days=3))


def _rows(shipment: Shipment, code: str) -> int:
    return TrackingEvent.objects.filter(
        shipment=shipment, carrier_status_code=code
    ).count()


def _updates(shipment: Shipment) -> int:
    return Event.objects.filter(
        name="shipment.tracking_updated", subject=shipment.public_id
    ).count()


def test_a_delivery_read_again_as_returned_is_stored_once(bought):  # noqa: F811
    poll(bought, _answer(None, DELIVERY, MOVED, LABEL))
    assert bought.tracking_status == TrackingStatus.DELIVERED

    # UPS now lists the return scan before it: its delivery reads returned.
    poll(bought, _answer(None, DELIVERY, RETURN, MOVED, LABEL))

    assert _rows(bought, "KB") == 1
    assert _rows(bought, "RS") == 1
    assert TrackingEvent.objects.filter(shipment=bought).count() == 4


def _scan(status: TrackingStatus) -> TrackingInfo:
    at = datetime(2026, 12, 4, 15, 30, tzinfo=UTC)
    event = CarrierEvent(
        status=status,
        occurred_at=at,
        carrier_status_code="KB",
        description="Delivered",
        location="Atlanta, GA, US",
    )
    return TrackingInfo(tracking_number=NUMBER, status=status, events=(event,))


def test_a_re_read_alone_is_nothing_new_and_tells_nobody(bought):  # noqa: F811
    first = services.shipment_tracking_apply(
        shipment=bought, info=_scan(TrackingStatus.DELIVERED)
    )
    told = _updates(bought)

    again = services.shipment_tracking_apply(
        shipment=bought, info=_scan(TrackingStatus.RETURNED)
    )

    assert (first, again) == (1, 0)
    assert _rows(bought, "KB") == 1
    assert _updates(bought) == told


def test_a_scan_keyed_with_its_status_before_is_not_stored_again(bought):  # noqa: F811
    at = datetime(2026, 12, 4, 15, 30, tzinfo=UTC)
    old = "|".join((at.isoformat(), "delivered", "KB", "Delivered"))
    TrackingEvent.objects.create(
        shipment=bought,
        status="delivered",
        carrier_status_code="KB",
        description="Delivered",
        location="Atlanta, GA, US",
        occurred_at=at,
        dedupe_key=hashlib.sha256(old.encode()).hexdigest(),
    )

    for status in (TrackingStatus.DELIVERED, TrackingStatus.RETURNED):
        assert (
            services.shipment_tracking_apply(shipment=bought, info=_scan(status)) == 0
        )

    assert _rows(bought, "KB") == 1
