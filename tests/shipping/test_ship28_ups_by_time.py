"""UPS's MV ("Billing Information Voided") was read off the first activity
UPS lists, trusting its newest-first order: a misordered answer (a label
billed again, dated after the MV but listed below it) voided a live label,
and an MV dated newest but listed below stayed unread. The newest activity
by time decides (same second: the listing order)."""

from datetime import timedelta

import pytest

from integrations.models import Event
from shipping.models import Shipment, ShipmentStatus
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


def test_ups_an_m_dated_after_the_mv_but_listed_below_voids_nothing(bought):  # noqa: F811
    billed = _activity(
        "M", "MP", "Shipper created a label", LABEL_AT + timedelta(hours=3)
    )
    poll(bought, _answer(None, VOIDED, billed, LABEL))

    assert bought.status == ShipmentStatus.PURCHASED
    assert _voided_events(bought) == 0


def test_ups_an_mv_dated_newest_but_listed_below_voids(bought):  # noqa: F811
    poll(bought, _answer(None, LABEL, VOIDED))

    assert bought.status == ShipmentStatus.VOIDED
    assert _voided_events(bought) == 1


def test_ups_same_second_keeps_the_listing_order(bought):  # noqa: F811
    same = _activity(
        "M", "MP", "Shipper created a label", LABEL_AT + timedelta(hours=2)
    )
    poll(bought, _answer(None, same, VOIDED, LABEL))  # M listed first: newest

    assert bought.status == ShipmentStatus.PURCHASED
