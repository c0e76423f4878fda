"""What shipment events carry for the shipping notice: the carrier, the
recipient's email from the destination address and the carrier's public
tracking link."""

import dataclasses

import pytest
from django.utils import timezone

from integrations.events import Event
from shipping import codec, services
from shipping.models import ShipmentStatus
from shipping.providers.tracking_types import (
    TrackingEvent,
    TrackingInfo,
    TrackingStatus,
)
from shipping.tracking_links import tracking_url
from tests.shipping.contract import requests
from tests.shipping.helpers import carrier
from tests.shipping.test_labels import _quote
from tests.shipping.test_models import _shipment

pytestmark = pytest.mark.django_db


def test_label_created_carries_the_recipient_and_tracking_link() -> None:
    to = dataclasses.replace(requests.RECIPIENT, email="ada@example.com")
    request = requests.rate_request(to_address=to)
    quote = _quote(carrier("post"), request=codec.request_to_json(request))
    shipment = services.shipment_buy(
        quote_id=quote.public_id, idempotency_key="k1", order_id="o-1"
    )
    payload = Event.objects.get(name="shipment.label_created").payload
    assert payload["customer_email"] == "ada@example.com"
    assert payload["carrier"] == shipment.carrier
    # The sandbox carrier has no public page: no link rather than a wrong one.
    assert payload["tracking_url"] == ""


def test_delivered_carries_carrier_recipient_and_link() -> None:
    data = codec.request_to_json(requests.rate_request())
    shipment = _shipment(
        carrier("post"),
        to_address={**data["to_address"], "email": "ada@example.com"},
        carrier="FedEx",
        status=ShipmentStatus.PURCHASED,
        tracking_status="in_transit",
        tracking_number="794600000000",
    )
    done = TrackingEvent(
        status=TrackingStatus.DELIVERED,
        occurred_at=timezone.now(),
        carrier_status_code="DL",
        description="Delivered",
    )
    info = TrackingInfo(shipment.tracking_number, TrackingStatus.DELIVERED, (done,))
    services.shipment_tracking_apply(shipment=shipment, info=info)
    payload = Event.objects.get(name="shipment.delivered").payload
    assert payload["carrier"] == "FedEx"
    assert payload["customer_email"] == "ada@example.com"
    assert payload["tracking_url"] == (
        "https://www.fedex.com/fedextrack/?trknbr=794600000000"
    )


@pytest.mark.parametrize(
    ("name", "number", "expected"),
    [
        ("UPS", "1Z999", "https://www.ups.com/track?tracknum=1Z999"),
        ("DHL Express", "123", "https://www.dhl.com/en/express/tracking.html?AWB=123"),
        (
            "USPS",
            "94 00/1",
            "https://tools.usps.com/go/TrackConfirmAction?tLabels=94%2000%2F1",
        ),
        ("sandbox", "SBX1", ""),
        ("UPS", "", ""),
    ],
)
def test_tracking_url(name: str, number: str, expected: str) -> None:
    assert tracking_url(name, number) == expected
