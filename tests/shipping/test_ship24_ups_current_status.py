"""UPS's ``currentStatus`` (Track API v1, ``package[].currentStatus``, the
``Status`` schema an activity's status has too) was never read: a UPS parcel
followed its newest activity only. It is the carrier's stated status, heard
through the base class's one rule (forward only, never from a stale answer),
as FedEx's latestStatusDetail and USPS's statusCategory are."""

from datetime import UTC, datetime, timedelta

import pytest

from shipping.models import Shipment
from shipping.providers.tracking_types import TrackingStatus
from tests.shipping.ups_answers import (
    NUMBER,
    package,
    poll,
    track_answer,
    ups_account,
    ups_shipment,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def bought() -> Shipment:
    account = ups_account("ups-ship24", breaker_consecutive_failures=50)
    shipment = ups_shipment(
        account,
        "ship24-ups-1",
        tracking_status="pre_transit",
        carrier_shipment_id=NUMBER,
    )
    # Bought when its label scan says: scans dated before the buy are a
    # recycled number's (test_revship28_recycled_void).
    Shipment.objects.filter(pk=shipment.pk).update(created_at=LABEL_AT)
    shipment.refresh_from_db()
    return shipment


def _activity(kind: str, code: str, description: str, at: datetime) -> dict:
    return {
        "location": {"address": {"countryCode": "US", "country": "US"}},
        "status": {"type": kind, "description": description, "code": code},
        "gmtDate": at.strftime("%Y%m%d"),
        "gmtTime": at.strftime("%H:%M:%S"),
    }


def _answer(current: object, *activities: dict) -> dict:
    answer = track_answer(*activities)
    if current is None:
        package(answer).pop("currentStatus")
    else:
        package(answer)["currentStatus"] = current
    return answer


def _current(kind: str, description: str) -> dict:
    return {"type": kind, "description": description, "code": "", "statusCode": ""}


LABEL_AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LABEL = _activity("M", "MP", "Shipper created a label", LABEL_AT)


def test_current_status_counts_where_the_activities_do_not_show_it(bought):
    # UPS lists only the label scan yet, and says the parcel is on its way.
    poll(bought, _answer(_current("I", "Arrived at Facility"), LABEL))

    assert bought.tracking_status == TrackingStatus.IN_TRANSIT
    assert bought.tracking_event_at == LABEL_AT


def test_out_for_delivery_is_read_off_the_current_status_wording(bought):
    stated = _current("I", "Out For Delivery Today")
    poll(bought, _answer(stated, LABEL))

    assert bought.tracking_status == TrackingStatus.OUT_FOR_DELIVERY


def test_a_stated_delivery_without_its_scan_is_delivered(bought):
    moved = _activity("I", "AR", "Arrived at Facility", LABEL_AT + timedelta(hours=5))
    poll(bought, _answer(_current("D", "DELIVERED "), moved, LABEL))

    assert bought.tracking_status == TrackingStatus.DELIVERED
    assert bought.delivered_at is not None


def test_a_stale_answer_never_takes_the_stated_status_back(bought):
    later = LABEL_AT + timedelta(hours=8)
    out = _activity("I", "OF", "Out For Delivery Today", later)
    poll(bought, _answer(_current("I", "Out For Delivery Today"), out, LABEL))
    assert bought.tracking_status == TrackingStatus.OUT_FOR_DELIVERY

    # An answer cached before the out-for-delivery scan: in transit then.
    poll(bought, _answer(_current("I", "Arrived at Facility"), LABEL))

    assert bought.tracking_status == TrackingStatus.OUT_FOR_DELIVERY
    assert bought.tracking_event_at == later


@pytest.mark.parametrize("current", [None, "D", ["D"], _current("ZZ", "Odd")])
def test_no_or_an_unreadable_current_status_leaves_the_scans_to_speak(bought, current):
    moved = _activity("I", "AR", "Arrived at Facility", LABEL_AT + timedelta(hours=5))
    poll(bought, _answer(current, moved, LABEL))

    assert bought.tracking_status == TrackingStatus.IN_TRANSIT
    assert bought.tracking_events.count() == 2
