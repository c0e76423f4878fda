"""UPS activity times as its Track API spec writes them: ``gmtTime`` without
a leading zero (the spec's example '74700', 07:47:00), and a local date and
time with its ``gmtOffset`` where no GMT pair came. Built from UPS's
Tracking.yaml Activity schema and the karrio sample (track_response.json)."""

import copy

import pytest

from shipping.models import Shipment
from shipping.providers.tracking_types import TrackingStatus
from tests.shipping.providers.wire import load
from tests.shipping.ups_answers import (
    package,
    poll,
    track_answer,
    ups_account,
    ups_shipment,
)

pytestmark = pytest.mark.django_db


def _shipment() -> Shipment:
    account = ups_account("ups-revship22")
    return ups_shipment(account, "revship22-ups", tracking_status="pre_transit")


def _activity(kind: str, code: str, **times: str) -> dict:
    activity = copy.deepcopy(package(load("ups", "track_response.json"))["activity"][0])
    activity["status"] = {"type": kind, "description": code, "code": code}
    for field in ("date", "time"):
        activity.pop(field)
    activity.update(times)
    return activity


def _stored(shipment: Shipment) -> list[tuple[str, str]]:
    return [
        (e.carrier_status_code, e.occurred_at.isoformat())
        for e in shipment.tracking_events.order_by("occurred_at")
    ]


def test_a_gmt_time_before_ten_without_its_leading_zero_is_read_not_dropped():
    shipment = _shipment()
    # Newest first (the spec: "the most recent activity first").
    delivered = _activity(
        "D",
        "F4",
        date="20210210",
        time="024700",
        gmtDate="20210210",
        gmtTime="74700",
        gmtOffset="-05:00",
    )
    picked = _activity(
        "I",
        "OR",
        date="20210209",
        time="180000",
        gmtDate="20210209",
        gmtTime="230000",
        gmtOffset="-05:00",
    )

    poll(shipment, track_answer(delivered, picked))

    assert _stored(shipment) == [
        ("OR", "2021-02-09T23:00:00+00:00"),
        ("F4", "2021-02-10T07:47:00+00:00"),
    ]
    assert shipment.tracking_status == TrackingStatus.DELIVERED


def test_a_gmt_time_written_with_colons_reads_the_same():
    shipment = _shipment()
    out = _activity(
        "I",
        "OT",
        date="20210210",
        time="014700",
        gmtDate="20210210",
        gmtTime="6:47:00",
        gmtOffset="-05:00",
    )

    poll(shipment, track_answer(out))

    assert _stored(shipment) == [("OT", "2021-02-10T06:47:00+00:00")]


def test_local_times_with_their_offset_keep_a_westbound_parcel_in_order():
    # No GMT pair: the local time and its offset (New York, then Los Angeles
    # later in real time but earlier on its clock) give the instant.
    shipment = _shipment()
    arrived = _activity("I", "AR", date="20210210", time="183000", gmtOffset="-08:00")
    departed = _activity("I", "DP", date="20210210", time="200000", gmtOffset="-05:00")
    delivered_later = _activity(
        "D", "F4", date="20210211", time="090000", gmtOffset="-08:00"
    )

    poll(shipment, track_answer(arrived, departed))

    assert _stored(shipment) == [
        ("DP", "2021-02-11T01:00:00+00:00"),
        ("AR", "2021-02-11T02:30:00+00:00"),
    ]
    assert shipment.tracking_event_at.isoformat() == "2021-02-11T02:30:00+00:00"
    poll(shipment, track_answer(delivered_later, arrived, departed))
    assert shipment.tracking_status == TrackingStatus.DELIVERED


def test_a_gmt_date_without_its_gmt_time_is_not_joined_to_the_local_time():
    # Half a GMT pair: the local date and time with the offset, never the
    # GMT date with the local clock (a day off across midnight).
    shipment = _shipment()
    late = _activity(
        "I",
        "AR",
        date="20210210",
        time="213000",
        gmtDate="20210211",
        gmtOffset="-05:00",
    )

    poll(shipment, track_answer(late))

    assert _stored(shipment) == [("AR", "2021-02-11T02:30:00+00:00")]
