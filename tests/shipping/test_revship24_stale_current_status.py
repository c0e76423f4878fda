"""A carrier's stated status that lags its own scans in the same answer.

UPS's ``currentStatus`` (read since ship24) and the newest activity came in
one answer: the activity says out for delivery (UPS's type ``I``, told by its
wording), the current status says only in transit (``I``, "Arrived at
Facility"). "In transit" is not news over an out-for-delivery scan of the
same answer: the parcel moved back in stage on no new scan, and the shop was
told ``shipment.tracking_updated`` in transit. The status the scans give
stands; a stated exception (news the scans may not list yet) still counts."""

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

OUT = _activity("I", "OF", "Out For Delivery Today", LABEL_AT + timedelta(hours=5))


def _updates() -> list[str]:
    return list(
        Event.objects.filter(name="shipment.tracking_updated")
        .order_by("pk")
        .values_list("payload__tracking_status", flat=True)
    )


def test_a_lagging_in_transit_word_never_takes_out_for_delivery_back(bought):  # noqa: F811
    poll(bought, _answer(_current("I", "Out For Delivery Today"), OUT, LABEL))
    assert bought.tracking_status == TrackingStatus.OUT_FOR_DELIVERY

    poll(bought, _answer(_current("I", "Arrived at Facility"), OUT, LABEL))

    assert bought.tracking_status == TrackingStatus.OUT_FOR_DELIVERY
    assert _updates() == ["out_for_delivery"]


def test_a_first_answer_whose_word_lags_its_scans_follows_the_scans(bought):  # noqa: F811
    poll(bought, _answer(_current("I", "Arrived at Facility"), OUT, LABEL))

    assert bought.tracking_status == TrackingStatus.OUT_FOR_DELIVERY


def test_a_stated_exception_over_the_same_scans_still_counts(bought):  # noqa: F811
    poll(bought, _answer(_current("I", "Out For Delivery Today"), OUT, LABEL))

    poll(bought, _answer(_current("X", "The receiver was not available"), OUT, LABEL))

    assert bought.tracking_status == TrackingStatus.EXCEPTION
