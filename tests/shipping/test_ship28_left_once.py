"""A carrier's word that a label was voided, on a shipment left for staff
(its parcel moved, or one package of a multi-label shipment), logged its
warning on every poll: the carrier repeats it each time. It is logged once
and put on the shipment's timeline once (an internal event)."""

import logging
from datetime import timedelta

import pytest

from integrations.models import Event
from shipping.models import Shipment, ShipmentParcel, ShipmentStatus
from tests.shipping.test_ship24_ups_current_status import (  # noqa: F401
    LABEL,
    LABEL_AT,
    _activity,
    _answer,
    bought,
)
from tests.shipping.test_ship27_ups_label_voided import VOIDED
from tests.shipping.ups_answers import poll

pytestmark = pytest.mark.django_db


def _voided_events(shipment: Shipment) -> int:
    return Event.objects.filter(
        name="shipment.voided", subject=shipment.public_id
    ).count()


def _warnings(caplog) -> int:
    return sum("voided at the carrier" in r.getMessage() for r in caplog.records)


def _left_notes(shipment: Shipment) -> int:
    return Event.objects.filter(
        subject=shipment.public_id, name="shipment.carrier_void_left"
    ).count()


def test_a_multi_label_shipment_is_noted_once(bought, caplog):  # noqa: F811
    for sequence in (1, 2):
        ShipmentParcel.objects.create(
            shipment=bought,
            sequence=sequence,
            tracking_number=f"1Z1442YY72290146{sequence}0",
            carrier_reference=f"1Z1442YY72290146{sequence}0",
        )
    with caplog.at_level(logging.WARNING, logger="shipping"):
        for _ in range(3):
            poll(bought, _answer(None, VOIDED, LABEL))

    assert bought.status == ShipmentStatus.PURCHASED
    assert _warnings(caplog) == 1
    assert _left_notes(bought) == 1


def test_a_moved_shipment_is_noted_once(bought, caplog):  # noqa: F811
    transit = _activity("I", "OR", "Origin Scan", LABEL_AT + timedelta(hours=1))
    with caplog.at_level(logging.WARNING, logger="shipping"):
        for _ in range(3):
            poll(bought, _answer(None, VOIDED, transit, LABEL))

    assert bought.status == ShipmentStatus.PURCHASED
    assert _warnings(caplog) == 1
    assert _left_notes(bought) == 1


def test_the_note_is_for_staff_never_the_shop():
    from storefront_hooks import catalog

    assert not catalog.is_public("shipment.carrier_void_left")
