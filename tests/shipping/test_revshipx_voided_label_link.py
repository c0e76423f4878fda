"""A storefront that had ``shipment.label_created`` and then the void keeps
the tracking number it was given, but the shipment no longer offers a label
link that answers 404 (the download of a voided label is ``no_label``)."""

import pytest
from rest_framework.test import APIClient

from shipping import services
from shipping.models import ShipmentStatus
from tests.factories import ApiKeyFactory
from tests.shipping.helpers import carrier
from tests.shipping.test_labels import _quote

pytestmark = pytest.mark.django_db


def test_a_voided_label_keeps_its_number_and_offers_no_dead_link(
    django_capture_on_commit_callbacks,
):
    quote = _quote(carrier("post"))
    shipment = services.shipment_buy(
        quote_id=quote.public_id, idempotency_key="k1", order_id="o-1"
    )
    number = shipment.tracking_number
    shipment = services.shipment_void(shipment=shipment)
    assert shipment.status == ShipmentStatus.VOIDED

    client = APIClient()
    key = ApiKeyFactory(scopes=["shipping:read"])
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    seen = client.get(f"/api/v1/shipping/shipments/{shipment.public_id}/").json()
    (listed,) = client.get("/api/v1/shipping/shipments/").json()["results"]
    download = client.get(f"/api/v1/shipping/shipments/{shipment.public_id}/label/")

    assert seen["tracking_number"] == listed["tracking_number"] == number
    assert download.status_code == 404
    assert seen["label_url"] is None
    assert listed["label_url"] is None
