"""A label settled as not bought (staff's word, or a look-up that missed it)
whose kept tracking number the carrier then scans in its network: the carrier
has the parcel and bills the label. It must not stay ``failed`` and silent
for ever (no ``shipment.label_created``, nothing staff can settle): it is
``unknown`` again, staff are told, and settling it as bought announces the
label and its scans."""

import logging

import pytest
from django.utils import timezone

from integrations.models import Event
from shipping.models import Shipment, ShipmentStatus
from shipping.services.settle import shipment_settle_by_hand
from tests.shipping.contract import harness_sandbox
from tests.shipping.test_labels import _quote
from tests.shipping.test_shipx_garbled_unannounced import (
    PDF,
    _post_tracking,
    _unannounced,
)

pytestmark = pytest.mark.django_db


def _not_bought(shipment) -> None:
    shipment_settle_by_hand(
        shipment=shipment,
        outcome="not_bought",
        note="the carrier's site showed no such label",
        actor="staff@example.com",
    )
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.FAILED


def test_a_not_bought_label_the_carrier_scans_is_unknown_again(
    django_capture_on_commit_callbacks, caplog
):
    account = harness_sandbox.make_account()
    shipment = _unannounced(account)
    _not_bought(shipment)

    with caplog.at_level(logging.ERROR, logger="shipping"):
        _post_tracking(
            account, shipment.tracking_number, django_capture_on_commit_callbacks
        )

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.UNKNOWN
    assert shipment.tracking_events.count() == 4
    assert any(
        r.levelno == logging.ERROR and "not bought" in r.getMessage()
        for r in caplog.records
    )
    assert not Event.objects.filter(name="shipment.tracking_updated").exists()

    shipment_settle_by_hand(
        shipment=shipment,
        outcome="bought",
        note="the carrier scanned it; downloaded from its site",
        actor="staff@example.com",
        tracking_number=shipment.tracking_number,
        label_data=PDF,
    )
    names = list(
        Event.objects.filter(name__startswith="shipment.")
        .exclude(name__in=["shipment.settled_by_hand", "shipment.failure_cleared"])
        .order_by("pk")
        .values_list("name", flat=True)
    )
    assert names == ["shipment.label_created", "shipment.tracking_updated"]


def test_one_whose_quote_was_bought_again_stays_failed_and_staff_are_told(
    django_capture_on_commit_callbacks, caplog
):
    account = harness_sandbox.make_account()
    quote = _quote(account)
    shipment = _unannounced(account)
    Shipment.objects.filter(pk=shipment.pk).update(quote=quote)
    _not_bought(shipment)
    again = Shipment.objects.get(pk=shipment.pk)
    again.pk, again.public_id = None, ""
    again.idempotency_key, again.tracking_number = "key-2", "OTHER1"
    again.status, again.created_at = ShipmentStatus.PURCHASED, timezone.now()
    again.save()

    with caplog.at_level(logging.ERROR, logger="shipping"):
        _post_tracking(
            account, shipment.tracking_number, django_capture_on_commit_callbacks
        )

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.FAILED
    assert shipment.tracking_events.count() == 4  # kept all the same
    assert any(
        r.levelno == logging.ERROR and "not bought" in r.getMessage()
        for r in caplog.records
    )
