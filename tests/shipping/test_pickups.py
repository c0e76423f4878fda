"""Pickups: booked once per key, cancelled by confirmation."""

from datetime import time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from integrations.errors import Rejected
from shipping import services
from shipping.models import Pickup, PickupStatus
from shipping.providers.base import PickupRequest
from tests.shipping.contract import requests
from tests.shipping.helpers import carrier

pytestmark = pytest.mark.django_db


def _request(key: str = "pk-1", **overrides) -> PickupRequest:
    values = {
        "address": requests.SHIPPER,
        "pickup_date": timezone.localdate() + timedelta(days=1),
        "ready_time": time(9),
        "close_time": time(17),
        "parcel_count": 3,
        "total_weight": Decimal("7.5"),
        "idempotency_key": key,
    }
    return PickupRequest(**{**values, **overrides})


def test_schedule_once_per_key_then_cancel():
    account = carrier("post")
    pickup = services.pickup_schedule(account=account, request=_request())
    assert pickup.status == PickupStatus.SCHEDULED
    assert pickup.confirmation_number.startswith("PU")
    again = services.pickup_schedule(account=account, request=_request())
    assert again.pk == pickup.pk
    services.pickup_cancel(pickup=pickup)
    assert pickup.status == PickupStatus.CANCELLED
    assert services.pickup_cancel(pickup=pickup).status == PickupStatus.CANCELLED


def test_a_refused_or_invalid_pickup():
    account = carrier("post")
    with pytest.raises(Rejected) as info:
        services.pickup_schedule(
            account=account, request=_request(close_time=time(8), key="pk-2")
        )
    assert info.value.param == "close_time"
    assert not Pickup.objects.filter(idempotency_key="pk-2").exists()
    failed = services.pickup_schedule(
        account=carrier("down", outage=True), request=_request(key="pk-3")
    )
    assert failed.status == PickupStatus.FAILED
    with pytest.raises(services.InvalidState):
        services.pickup_cancel(pickup=failed)
