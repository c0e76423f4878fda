"""Tracking: events stored once, status only forward, outbox events."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from integrations.events import Event
from shipping import services
from shipping.models import Shipment, ShipmentStatus
from shipping.providers import sandbox_rules
from shipping.providers.base import TrackingEvent, TrackingInfo, TrackingStatus
from tests.shipping.helpers import carrier
from tests.shipping.test_models import _shipment

pytestmark = pytest.mark.django_db


def _bought(account, *, steps_ago: float = 0, key: str = "k") -> Shipment:
    number = sandbox_rules.tracking_number(
        created_at=timezone.now() - timedelta(seconds=600 * steps_ago + 1),
        key=key,
        exception=False,
    )
    return _shipment(
        account,
        key=key,
        status=ShipmentStatus.PURCHASED,
        tracking_status="pre_transit",
        tracking_number=number,
        carrier_shipment_id=number,
    )


def _event(status, minutes_ago, code="X"):
    return TrackingEvent(
        status=status,
        occurred_at=timezone.now() - timedelta(minutes=minutes_ago),
        carrier_status_code=code,
        description=str(status),
    )


def test_a_poll_stores_events_once_and_emits():
    shipment = _bought(carrier("post"), steps_ago=2)
    assert services.shipment_tracking_refresh(shipment=shipment) == 3
    assert services.shipment_tracking_refresh(shipment=shipment) == 0
    assert shipment.tracking_events.count() == 3
    assert shipment.tracking_status == "in_transit"
    assert Event.objects.filter(name="shipment.tracking_updated").count() == 1


def test_status_only_moves_forward():
    shipment = _bought(carrier("post"))
    delivered = _event(TrackingStatus.DELIVERED, 5, "DL")
    info = TrackingInfo(
        shipment.tracking_number, TrackingStatus.DELIVERED, (delivered,)
    )
    services.shipment_tracking_apply(shipment=shipment, info=info)
    assert shipment.tracking_status == "delivered" and shipment.delivered_at
    late = _event(TrackingStatus.IN_TRANSIT, 1, "AR")
    info = TrackingInfo(shipment.tracking_number, TrackingStatus.IN_TRANSIT, (late,))
    assert services.shipment_tracking_apply(shipment=shipment, info=info) == 1
    assert shipment.tracking_status == "delivered"
    assert Event.objects.filter(name="shipment.delivered").count() == 1


def test_an_older_event_never_overrides_a_newer_one():
    shipment = _bought(carrier("post"))
    newer = _event(TrackingStatus.OUT_FOR_DELIVERY, 5, "OD")
    services.shipment_tracking_apply(
        shipment=shipment,
        info=TrackingInfo(shipment.tracking_number, newer.status, (newer,)),
    )
    older = _event(TrackingStatus.IN_TRANSIT, 30, "AR")
    services.shipment_tracking_apply(
        shipment=shipment,
        info=TrackingInfo(shipment.tracking_number, older.status, (older,)),
    )
    assert shipment.tracking_status == "out_for_delivery"


def test_refresh_tracking_command_polls_due_shipments_and_summarises(capsys):
    account = carrier("post")
    _bought(account, steps_ago=4.5, key="a")
    _bought(account, steps_ago=1, key="b")
    lost = _bought(account, key="c")
    Shipment.objects.filter(pk=lost.pk).update(tracking_number="SBXN-unknown")
    call_command("refresh_tracking")
    out = capsys.readouterr().out
    assert "3 checked, 2 updated, 1 failed" in out
    assert Shipment.objects.filter(tracking_status="delivered").count() == 1
    # Just asked: nothing is due again.
    call_command("refresh_tracking")
    assert "0 checked" in capsys.readouterr().out
