"""The carrier's stated status (ship23) weighed against what is followed
already: two answers with the same newest scan but different stated
statuses (a Shippo webhook retried late after a poll) flipped the parcel
back and forth, a storefront event each time; and a delivery told before
its scan kept "when we were told" as delivered_at after the real scan came."""

from datetime import UTC, datetime, timedelta

import pytest

from integrations.events import Event
from shipping import services
from shipping.models import Shipment, ShipmentStatus
from shipping.providers.tracking_types import (
    TrackingEvent,
    TrackingInfo,
    TrackingStatus,
)
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db

SCAN_AT = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


@pytest.fixture
def shipment():
    holder = ProviderAccountFactory(kind="shipping", provider="shippo")
    made = Shipment.objects.create(
        account=holder,
        from_address={},
        to_address={},
        parcels=[],
        carrier="shippo",
        service_code="x",
        amount=790,
        currency="USD",
        idempotency_key="revship23-stated",
        status=ShipmentStatus.PURCHASED,
        tracking_status="pre_transit",
        tracking_number="92055901",
        carrier_shipment_id="revship23",
    )
    # The label bought the day before the scans.
    Shipment.objects.filter(pk=made.pk).update(created_at=SCAN_AT - timedelta(days=1))
    made.refresh_from_db()
    return made


def _scan(status=TrackingStatus.IN_TRANSIT, at=SCAN_AT, code="IT") -> TrackingEvent:
    return TrackingEvent(status=status, occurred_at=at, carrier_status_code=code)


def _answer(stated, *scans) -> TrackingInfo:
    return TrackingInfo(
        tracking_number="92055901",
        status=stated,
        events=tuple(scans),
        status_stated=True,
    )


def _updates(shipment) -> int:
    return Event.objects.filter(
        name="shipment.tracking_updated", subject=shipment.public_id
    ).count()


def test_a_stale_word_on_the_same_scan_does_not_take_the_parcel_back(shipment):
    services.shipment_tracking_apply(
        shipment=shipment, info=_answer(TrackingStatus.IN_TRANSIT, _scan())
    )
    # The poll: an alert on the parcel, no new scan.
    services.shipment_tracking_apply(
        shipment=shipment, info=_answer(TrackingStatus.EXCEPTION, _scan())
    )
    assert shipment.tracking_status == TrackingStatus.EXCEPTION
    sent = _updates(shipment)

    # The first webhook retried late: its word is older than the alert.
    services.shipment_tracking_apply(
        shipment=shipment, info=_answer(TrackingStatus.IN_TRANSIT, _scan())
    )
    services.shipment_tracking_apply(
        shipment=shipment, info=_answer(TrackingStatus.EXCEPTION, _scan())
    )

    assert shipment.tracking_status == TrackingStatus.EXCEPTION
    assert _updates(shipment) == sent


def test_answers_without_scans_do_not_flip_the_status(shipment):
    services.shipment_tracking_apply(
        shipment=shipment, info=_answer(TrackingStatus.IN_TRANSIT)
    )
    assert shipment.tracking_status == TrackingStatus.IN_TRANSIT
    sent = _updates(shipment)

    for stated in (TrackingStatus.EXCEPTION, TrackingStatus.IN_TRANSIT) * 2:
        services.shipment_tracking_apply(shipment=shipment, info=_answer(stated))

    assert _updates(shipment) - sent <= 1


def test_a_newer_scan_still_lets_the_word_move_the_parcel(shipment):
    services.shipment_tracking_apply(
        shipment=shipment, info=_answer(TrackingStatus.EXCEPTION, _scan())
    )
    later = _scan(at=SCAN_AT + timedelta(hours=3), code="AR")

    services.shipment_tracking_apply(
        shipment=shipment, info=_answer(TrackingStatus.IN_TRANSIT, _scan(), later)
    )

    assert shipment.tracking_status == TrackingStatus.IN_TRANSIT
    assert shipment.tracking_event_at == later.occurred_at


def test_the_delivery_scan_arriving_later_dates_the_delivery(shipment):
    services.shipment_tracking_apply(
        shipment=shipment, info=_answer(TrackingStatus.DELIVERED, _scan())
    )
    assert shipment.tracking_status == TrackingStatus.DELIVERED
    told = shipment.delivered_at
    delivered = _scan(TrackingStatus.DELIVERED, SCAN_AT + timedelta(hours=5), "DL")
    assert delivered.occurred_at < told

    services.shipment_tracking_apply(
        shipment=shipment, info=_answer(TrackingStatus.DELIVERED, _scan(), delivered)
    )

    assert shipment.delivered_at == delivered.occurred_at
    assert (
        Event.objects.filter(
            name="shipment.delivered", subject=shipment.public_id
        ).count()
        == 1
    )


def test_a_delivered_scan_before_the_label_never_dates_it(shipment):
    services.shipment_tracking_apply(
        shipment=shipment, info=_answer(TrackingStatus.DELIVERED, _scan())
    )
    told = shipment.delivered_at
    recycled = _scan(TrackingStatus.DELIVERED, SCAN_AT - timedelta(days=90), "DL")

    services.shipment_tracking_apply(
        shipment=shipment, info=_answer(TrackingStatus.DELIVERED, recycled, _scan())
    )

    assert shipment.delivered_at == told


def test_a_later_delivered_scan_never_moves_a_scanned_delivery(shipment):
    first = _scan(TrackingStatus.DELIVERED, SCAN_AT, "DL")
    services.shipment_tracking_apply(
        shipment=shipment, info=_answer(TrackingStatus.DELIVERED, first)
    )
    again = _scan(TrackingStatus.DELIVERED, SCAN_AT + timedelta(hours=2), "DL2")

    services.shipment_tracking_apply(
        shipment=shipment, info=_answer(TrackingStatus.DELIVERED, first, again)
    )

    assert shipment.delivered_at == first.occurred_at


def test_a_delivery_taken_back_is_dated_by_the_last_delivery_scan(shipment):
    services.shipment_tracking_apply(
        shipment=shipment, info=_answer(TrackingStatus.DELIVERED, _scan())
    )
    wrong = _scan(TrackingStatus.DELIVERED, SCAN_AT + timedelta(hours=1), "DL")
    back = _scan(at=SCAN_AT + timedelta(hours=2), code="AR")
    right = _scan(TrackingStatus.DELIVERED, SCAN_AT + timedelta(hours=4), "DL")

    services.shipment_tracking_apply(
        shipment=shipment,
        info=_answer(TrackingStatus.DELIVERED, _scan(), wrong, back, right),
    )

    assert shipment.delivered_at == right.occurred_at


def test_a_scanned_delivery_after_a_misdelivery_keeps_its_scan(shipment):
    wrong = _scan(TrackingStatus.DELIVERED, SCAN_AT, "DL")
    back = _scan(at=SCAN_AT + timedelta(hours=2), code="AR")
    right = _scan(TrackingStatus.DELIVERED, SCAN_AT + timedelta(hours=4), "DL")

    services.shipment_tracking_apply(
        shipment=shipment, info=_answer(TrackingStatus.DELIVERED, wrong, back, right)
    )

    assert shipment.delivered_at == right.occurred_at


def test_on_the_same_scans_a_word_may_still_move_the_parcel_on(shipment):
    services.shipment_tracking_apply(
        shipment=shipment, info=_answer(TrackingStatus.IN_TRANSIT)
    )
    services.shipment_tracking_apply(
        shipment=shipment, info=_answer(TrackingStatus.DELIVERED)
    )
    assert shipment.tracking_status == TrackingStatus.DELIVERED

    other = Shipment.objects.create(
        account=shipment.account,
        from_address={},
        to_address={},
        parcels=[],
        carrier="shippo",
        service_code="x",
        amount=790,
        currency="USD",
        idempotency_key="revship23-stated-2",
        status=ShipmentStatus.PURCHASED,
        tracking_status="pre_transit",
        tracking_number="92055902",
    )
    services.shipment_tracking_apply(
        shipment=other, info=_answer(TrackingStatus.OUT_FOR_DELIVERY, _scan())
    )
    services.shipment_tracking_apply(
        shipment=other, info=_answer(TrackingStatus.IN_TRANSIT, _scan())
    )
    assert other.tracking_status == TrackingStatus.OUT_FOR_DELIVERY
