"""The shipping models: what the database itself guarantees, and the codec
that keeps the boundary dataclasses in JSON."""

from datetime import date, timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from shipping import codec
from shipping.models import RateQuote, Shipment, ShipmentStatus, TrackingEvent
from tests.factories import ProviderAccountFactory
from tests.shipping.contract import requests


def test_a_request_survives_the_round_trip():
    request = requests.international_rate_request()
    request = type(request)(**{**request.__dict__, "ship_date": date(2026, 3, 2)})
    assert codec.request_from_json(codec.request_to_json(request)) == request


def _shipment(account, **values) -> Shipment:
    request = requests.rate_request()
    data = codec.request_to_json(request)
    defaults = {
        "from_address": data["from_address"],
        "to_address": data["to_address"],
        "parcels": data["parcels"],
        "account": account,
        "carrier": "sandbox",
        "service_code": "SBX_GROUND",
        "amount": 740,
        "currency": "USD",
        "idempotency_key": values.pop("key", "key-1"),
    }
    return Shipment.objects.create(**{**defaults, **values})


@pytest.mark.django_db
def test_public_ids_and_expiry():
    account = ProviderAccountFactory(kind="shipping")
    now = timezone.now()
    quote = RateQuote.objects.create(
        fingerprint="f" * 64,
        account=account,
        carrier="sandbox",
        service_code="SBX_GROUND",
        service_name="Sandbox Ground",
        amount=740,
        currency="USD",
        request=codec.request_to_json(requests.rate_request()),
        expires_at=now + timedelta(minutes=5),
    )
    assert quote.public_id.startswith("rq_")
    assert not quote.is_expired(now)
    assert quote.is_expired(now + timedelta(minutes=5))
    shipment = _shipment(account, quote=quote)
    assert shipment.public_id.startswith("shp_")
    assert not shipment.is_trackable  # no label yet


@pytest.mark.django_db
def test_a_tracking_event_is_stored_once():
    shipment = _shipment(
        ProviderAccountFactory(kind="shipping"),
        status=ShipmentStatus.PURCHASED,
        tracking_number="SBX1",
    )
    assert shipment.is_trackable
    values = {"status": "in_transit", "occurred_at": timezone.now(), "dedupe_key": "k"}
    TrackingEvent.objects.create(shipment=shipment, **values)
    with pytest.raises(IntegrityError), transaction.atomic():
        TrackingEvent.objects.create(shipment=shipment, **values)
    assert shipment.tracking_events.count() == 1


def test_a_carriers_answer_is_checked_against_the_columns_it_is_stored_in():
    from shipping.models import Pickup, ShipmentParcel
    from shipping.providers import answers

    def width(model, field):
        return model._meta.get_field(field).max_length

    for field, limit in answers.LABEL_LIMITS.items():
        assert width(Shipment, field) == limit, field
    for field, limit in answers.PICKUP_LIMITS.items():
        assert width(Pickup, field) == limit, field
    assert width(ShipmentParcel, "tracking_number") == answers.PARCEL_LIMIT
    assert width(ShipmentParcel, "carrier_reference") == answers.PARCEL_LIMIT
