"""Review of ship26 (UPS status read by type first), from outside.

- The wording was read in any case, the type only as sent: a type UPS sent
  padded (it pads its descriptions: "DELIVERED ") or in lower case matched
  no table, so a delivery was an unread scan and never told, and an
  in-transit scan's "out for delivery" wording went unread.
- A Track answer listing several packages was read by its first, whichever
  package that was: another package's delivery was taken for ours.
- Every published status type still maps as the table says."""

import copy
from datetime import timedelta

import pytest

from integrations.models import Event
from shipping.providers.tracking_types import TrackingStatus
from tests.shipping.test_ship24_ups_current_status import (  # noqa: F401
    LABEL,
    LABEL_AT,
    _activity,
    _answer,
    _current,
    bought,
)
from tests.shipping.ups_answers import NUMBER, package, poll

pytestmark = pytest.mark.django_db

LATER = LABEL_AT + timedelta(hours=9)


@pytest.mark.parametrize("kind", ["D ", " D", "d"])
def test_a_padded_or_lower_case_delivered_type_is_delivered(bought, kind):  # noqa: F811
    poll(bought, _answer(None, _activity(kind, "F4", "DELIVERED ", LATER), LABEL))

    assert bought.tracking_status == TrackingStatus.DELIVERED
    assert Event.objects.filter(name="shipment.delivered").count() == 1


@pytest.mark.parametrize("kind", ["I ", "i"])
def test_out_for_delivery_wording_on_a_padded_or_lower_case_i(bought, kind):  # noqa: F811
    scan = _activity(kind, "OF", "Out For Delivery Today", LATER)
    poll(bought, _answer(None, scan, LABEL))

    assert bought.tracking_status == TrackingStatus.OUT_FOR_DELIVERY


def test_a_padded_stated_type_is_read(bought):  # noqa: F811
    moved = _activity("I", "AR", "Arrived at Facility", LABEL_AT + timedelta(hours=5))
    poll(bought, _answer(_current("X ", "The receiver was not in"), moved, LABEL))

    assert bought.tracking_status == TrackingStatus.EXCEPTION


@pytest.mark.parametrize(
    ("kind", "wording", "expected"),
    [
        ("P", "Pickup Scan", TrackingStatus.IN_TRANSIT),
        ("I", "Departed from Facility", TrackingStatus.IN_TRANSIT),
        ("W", "Warehouse Scan", TrackingStatus.IN_TRANSIT),
        ("DO", "Delivered Origin CFS", TrackingStatus.IN_TRANSIT),
        ("DD", "Delivered Destination CFS", TrackingStatus.IN_TRANSIT),
        ("O", "Loaded on Delivery Vehicle", TrackingStatus.OUT_FOR_DELIVERY),
        ("X", "Delivery attempted: receiver not in", TrackingStatus.EXCEPTION),
        # A note that only mentions out for delivery is not UPS's wording of it.
        ("I", "Attempted; out for delivery again", TrackingStatus.IN_TRANSIT),
        ("RS", "Returned to shipper", TrackingStatus.RETURNED),
        ("D", "Delivered", TrackingStatus.DELIVERED),
    ],
)
def test_each_moving_type(bought, kind, wording, expected):  # noqa: F811
    poll(bought, _answer(None, _activity(kind, "XX", wording, LATER), LABEL))

    assert bought.tracking_status == expected


@pytest.mark.parametrize(
    ("kind", "wording"),
    [("", "Out For Delivery Today"), ("", "DELIVERED "), ("ZZ", "Delivered")],
)
def test_no_type_or_an_unknown_one_is_never_followed(bought, kind, wording):  # noqa: F811
    poll(bought, _answer(None, _activity(kind, "XX", wording, LATER), LABEL))

    # An unread scan: the parcel stays where it was, never delivered on words.
    assert bought.tracking_status == TrackingStatus.PRE_TRANSIT
    assert not Event.objects.filter(name="shipment.delivered").exists()


def _two_packages(ours: dict, other: dict) -> dict:
    # UPS lists the packages "associated with the inquiryNumber"; ours second.
    answer = _answer(None)
    first = package(answer)
    first.update(copy.deepcopy(other), trackingNumber="1Z1442YY7229014699")
    second = copy.deepcopy(first)
    second.update(copy.deepcopy(ours), trackingNumber=NUMBER)
    answer["trackResponse"]["shipment"][0]["package"] = [first, second]
    return answer


def test_the_package_asked_about_is_read_not_the_first_listed(bought):  # noqa: F811
    moved = _activity("I", "AR", "Arrived at Facility", LABEL_AT + timedelta(hours=5))
    done = _activity("D", "F4", "DELIVERED ", LATER)
    answer = _two_packages(
        ours={"activity": [moved, LABEL], "currentStatus": _current("I", "On the way")},
        other={"activity": [done, LABEL], "currentStatus": _current("D", "DELIVERED")},
    )
    poll(bought, answer)

    assert bought.tracking_status == TrackingStatus.IN_TRANSIT
    assert not Event.objects.filter(name="shipment.delivered").exists()
    assert list(bought.tracking_events.values_list("carrier_status_code", flat=True))
    assert "F4" not in bought.tracking_events.values_list(
        "carrier_status_code", flat=True
    )


def test_an_answer_naming_no_package_of_ours_reads_the_first(bought):  # noqa: F811
    # One package under another number (UPS answering for a lead number, say):
    # as before, the package UPS sent is the one read.
    answer = _answer(None, _activity("I", "AR", "Arrived at Facility", LATER), LABEL)
    package(answer)["trackingNumber"] = "1Z1442YY7229014699"
    poll(bought, answer)

    assert bought.tracking_status == TrackingStatus.IN_TRANSIT
