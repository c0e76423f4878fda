"""UPS's wording "OUT FOR DELIVERY" won over every status type: a delivered
(D) or exception (X) activity whose description mentions out for delivery
("Delivered ... out for delivery" notes, "... exception: the package was
out for delivery ...") was read as out for delivery, and a delivered parcel
was taken back a stage. The type comes first; the wording tells out for
delivery only where the type is ambiguous: in transit (I) covers both."""

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
from tests.shipping.ups_answers import poll

pytestmark = pytest.mark.django_db

DELIVERED_WORDING = "DELIVERED: the package was out for delivery and left at the door"
EXCEPTION_WORDING = "The package was out for delivery but the receiver was not in"


def _events(shipment) -> list[tuple[str, str]]:
    return list(
        shipment.tracking_events.order_by("occurred_at").values_list(
            "status", "carrier_status_code"
        )
    )


def test_a_delivered_activity_mentioning_out_for_delivery_is_delivered(bought):  # noqa: F811
    done = _activity("D", "F4", DELIVERED_WORDING, LABEL_AT + timedelta(hours=9))
    poll(bought, _answer(None, done, LABEL))

    assert bought.tracking_status == TrackingStatus.DELIVERED
    assert bought.delivered_at is not None
    assert _events(bought)[-1] == (TrackingStatus.DELIVERED, "F4")
    assert Event.objects.filter(name="shipment.delivered").count() == 1


def test_an_exception_activity_mentioning_out_for_delivery_is_an_exception(bought):  # noqa: F811
    failed = _activity("X", "48", EXCEPTION_WORDING, LABEL_AT + timedelta(hours=9))
    poll(bought, _answer(None, failed, LABEL))

    assert bought.tracking_status == TrackingStatus.EXCEPTION
    assert _events(bought)[-1] == (TrackingStatus.EXCEPTION, "48")


def test_a_stated_delivery_mentioning_out_for_delivery_is_delivered(bought):  # noqa: F811
    moved = _activity("I", "AR", "Arrived at Facility", LABEL_AT + timedelta(hours=5))
    poll(bought, _answer(_current("D", DELIVERED_WORDING), moved, LABEL))

    assert bought.tracking_status == TrackingStatus.DELIVERED


def test_a_stated_exception_mentioning_out_for_delivery_is_an_exception(bought):  # noqa: F811
    moved = _activity("I", "AR", "Arrived at Facility", LABEL_AT + timedelta(hours=5))
    poll(bought, _answer(_current("X", EXCEPTION_WORDING), moved, LABEL))

    assert bought.tracking_status == TrackingStatus.EXCEPTION


def test_a_delivered_parcel_is_never_taken_back_by_such_wording(bought):  # noqa: F811
    out = _activity("I", "OF", "Out For Delivery Today", LABEL_AT + timedelta(hours=5))
    done = _activity("D", "F4", DELIVERED_WORDING, LABEL_AT + timedelta(hours=9))
    poll(bought, _answer(_current("D", DELIVERED_WORDING), done, out, LABEL))

    assert bought.tracking_status == TrackingStatus.DELIVERED
    assert _events(bought) == [
        (TrackingStatus.PRE_TRANSIT, "MP"),
        (TrackingStatus.OUT_FOR_DELIVERY, "OF"),
        (TrackingStatus.DELIVERED, "F4"),
    ]


@pytest.mark.parametrize(
    ("wording", "expected"),
    [
        ("Out For Delivery Today", TrackingStatus.OUT_FOR_DELIVERY),
        ("OUT FOR DELIVERY", TrackingStatus.OUT_FOR_DELIVERY),
        ("Arrived at Facility", TrackingStatus.IN_TRANSIT),
    ],
)
def test_in_transit_is_still_told_apart_by_its_wording(bought, wording, expected):  # noqa: F811
    scan = _activity("I", "OF", wording, LABEL_AT + timedelta(hours=5))
    poll(bought, _answer(None, scan, LABEL))

    assert bought.tracking_status == expected
