"""UPS status type ``MV`` is "Billing Information Voided" (UPS Track API
status types: M billing information received, MV billing information
voided): the label was voided at UPS, by a void of ours whose answer was
lost or by someone at UPS. It was read as pre-transit only, so the shipment
stayed ``purchased`` with its label served and the shop never told; a void
we make ends ``voided`` with ``shipment.voided``. UPS's word that the label
is void now does the same, once; a scan of a package of a multi-label
shipment voids nothing (UPS voids packages one by one) and is left for
staff, logged."""

import logging
from datetime import timedelta

import pytest

from integrations.models import Event
from shipping.models import Shipment, ShipmentParcel, ShipmentStatus
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

VOIDED = _activity(
    "MV", "MV", "Billing Information Voided", LABEL_AT + timedelta(hours=2)
)


def _voided_events(shipment: Shipment) -> int:
    return Event.objects.filter(
        name="shipment.voided", subject=shipment.public_id
    ).count()


def test_a_label_voided_at_ups_ends_voided_and_is_told_once(bought):  # noqa: F811
    poll(bought, _answer(None, VOIDED, LABEL))

    assert bought.status == ShipmentStatus.VOIDED
    assert bought.tracking_status == TrackingStatus.PRE_TRANSIT
    assert _voided_events(bought) == 1
    poll(bought, _answer(None, VOIDED, LABEL))  # told again by UPS: nothing new
    assert _voided_events(bought) == 1


def test_a_stated_mv_is_read_as_the_label_voided(bought):  # noqa: F811
    poll(bought, _answer(_current("MV ", "Billing Information Voided"), LABEL))

    assert bought.status == ShipmentStatus.VOIDED
    assert _voided_events(bought) == 1


def test_an_older_mv_before_a_new_label_scan_voids_nothing(bought):  # noqa: F811
    # The newest word is what stands: a label billed again after a void.
    billed = _activity(
        "M", "MP", "Shipper created a label", LABEL_AT + timedelta(hours=3)
    )
    poll(bought, _answer(None, billed, VOIDED, LABEL))

    assert bought.status == ShipmentStatus.PURCHASED
    assert _voided_events(bought) == 0


def test_the_label_scan_alone_voids_nothing(bought):  # noqa: F811
    poll(bought, _answer(None, LABEL))

    assert bought.status == ShipmentStatus.PURCHASED


def test_a_multi_label_shipment_is_left_for_staff(bought, caplog):  # noqa: F811
    for sequence in (1, 2):
        ShipmentParcel.objects.create(
            shipment=bought,
            sequence=sequence,
            tracking_number=f"1Z1442YY72290146{sequence}0",
            carrier_reference=f"1Z1442YY72290146{sequence}0",
        )
    with caplog.at_level(logging.WARNING, logger="shipping"):
        poll(bought, _answer(None, VOIDED, LABEL))

    assert bought.status == ShipmentStatus.PURCHASED
    assert _voided_events(bought) == 0
    assert any("voided at the carrier" in r.getMessage() for r in caplog.records)
