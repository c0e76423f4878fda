"""A carrier's voided word (FedEx CA, UPS MV) dated before our label was
made (less the clock-skew allowance, ``LABEL_CLOCK_SKEW``) is a recycled
tracking number's previous use, as a label-created scan that old is: it
never voids our live label (we would tell the shop ``shipment.voided`` and
stop serving a label the carrier still bills and carries)."""

from datetime import timedelta

import pytest

from shipping.models import Shipment, ShipmentStatus
from tests.shipping.test_ship28_fedex_cancelled import (  # noqa: F401
    CANCELLED,
    CREATED,
    _fedex_answer,
    _poll_fedex,
    _voided_events,
    fedex,
)

pytestmark = pytest.mark.django_db

# The fixture's scans are of 2026-12-01; this label was bought a year on.
BOUGHT_LATER = timedelta(days=365)


def _bought_after(shipment: Shipment, gap: timedelta) -> None:
    Shipment.objects.filter(pk=shipment.pk).update(
        created_at=shipment.created_at.replace(year=2026, month=12, day=1, hour=11)
        + gap
    )
    shipment.refresh_from_db()


def test_stated_cancel_of_a_recycled_number_voids_nothing(fedex):  # noqa: F811
    _bought_after(fedex, BOUGHT_LATER)
    _poll_fedex(fedex, _fedex_answer(CANCELLED, CREATED, latest="CA"))

    assert fedex.status == ShipmentStatus.PURCHASED
    assert _voided_events(fedex) == 0


def test_cancel_scan_of_a_recycled_number_voids_nothing(fedex):  # noqa: F811
    _bought_after(fedex, BOUGHT_LATER)
    _poll_fedex(fedex, _fedex_answer(CANCELLED, CREATED))

    assert fedex.status == ShipmentStatus.PURCHASED
    assert _voided_events(fedex) == 0


def test_cancel_inside_the_clock_skew_still_voids(fedex):  # noqa: F811
    # Bought 13 hours after the cancel's stamp: a carrier clock off by that
    # much is allowed for, so the cancel is ours.
    _bought_after(fedex, timedelta(hours=13))
    _poll_fedex(fedex, _fedex_answer(CANCELLED, CREATED, latest="CA"))

    assert fedex.status == ShipmentStatus.VOIDED
    assert _voided_events(fedex) == 1
