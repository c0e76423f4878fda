"""UPS's MV ("Billing Information Voided") voided a shipment whatever its
parcel had done: ``shipment_voided_at_carrier`` only asked for ``purchased``,
which a shipment stays while it moves and once delivered (the tracking
status is apart). A parcel on its way or delivered is never voided by us
(``shipment_void`` refuses ``in_transit``): an MV then, like an MV UPS
lists first but dated before a later movement, is left for staff, logged."""

import logging
from datetime import timedelta

import pytest

from integrations.models import Event
from shipping.models import Shipment, ShipmentStatus
from shipping.providers.tracking_types import TrackingStatus
from tests.shipping.test_ship24_ups_current_status import (  # noqa: F401
    LABEL,
    LABEL_AT,
    _activity,
    _answer,
    bought,
)
from tests.shipping.ups_answers import poll

pytestmark = pytest.mark.django_db

TRANSIT = _activity("I", "OR", "Origin Scan", LABEL_AT + timedelta(hours=5))
DELIVERED = _activity("D", "FS", "DELIVERED", LABEL_AT + timedelta(days=1))


def _voided_events(shipment: Shipment) -> int:
    return Event.objects.filter(
        name="shipment.voided", subject=shipment.public_id
    ).count()


def test_an_mv_after_delivery_voids_nothing(bought, caplog):  # noqa: F811
    poll(bought, _answer(None, DELIVERED, TRANSIT, LABEL))
    assert bought.tracking_status == TrackingStatus.DELIVERED
    voided = _activity(
        "MV", "MV", "Billing Information Voided", LABEL_AT + timedelta(days=2)
    )

    with caplog.at_level(logging.WARNING, logger="shipping"):
        poll(bought, _answer(None, voided, DELIVERED, TRANSIT, LABEL))

    assert bought.status == ShipmentStatus.PURCHASED
    assert _voided_events(bought) == 0
    assert any("voided at the carrier" in r.getMessage() for r in caplog.records)


def test_an_mv_listed_first_but_older_than_a_movement_voids_nothing(bought):  # noqa: F811
    voided = _activity(
        "MV", "MV", "Billing Information Voided", LABEL_AT + timedelta(hours=2)
    )

    poll(bought, _answer(None, voided, TRANSIT, LABEL))

    assert bought.status == ShipmentStatus.PURCHASED
    assert _voided_events(bought) == 0
