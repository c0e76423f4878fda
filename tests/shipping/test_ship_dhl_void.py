"""DHL Express void. The MyDHL API has no call to cancel a shipment (its
endpoints: rates, products, landed cost, shipments and their images, proof
of delivery and invoice data, tracking, pickups with DELETE
/pickups/{dispatchConfirmationNumber}, address validation; karrio's MyDHL
connector cancels pickups only). So a void is refused before any call as
not supported, in words that say the label is still valid at DHL (billed
only once DHL picks the parcel up): never recorded as voided, nor announced
to the shop as a label that "can no longer be used"."""

import pytest
import responses
from rest_framework.test import APIClient

from integrations.events import Event
from shipping import services
from shipping.models import Shipment, ShipmentAttempt, ShipmentStatus
from tests.factories import ApiKeyFactory, ProviderAccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def bought() -> Shipment:
    account = ProviderAccountFactory(
        kind="shipping",
        provider="dhl_express",
        slug="dhl",
        settings={"account_number": "950000002", "max_attempts": 1},
        credentials={"api_key": "dhl-user", "api_secret": "dhl-pass"},
    )
    return Shipment.objects.create(
        account=account,
        from_address={},
        to_address={},
        parcels=[],
        carrier="DHL Express",
        service_code="P",
        amount=4500,
        currency="EUR",
        idempotency_key="dhl-1",
        status=ShipmentStatus.PURCHASED,
        tracking_number="1234567890",
        carrier_shipment_id="1234567890",
    )


def test_a_dhl_void_is_refused_as_not_supported_and_calls_nobody(bought):
    api = APIClient()
    key = ApiKeyFactory(scopes=["shipping:read", "shipping:write"])
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")

    with responses.RequestsMock() as mocked:
        answer = api.post(
            f"/api/v1/shipping/shipments/{bought.public_id}/void/",
            HTTP_IDEMPOTENCY_KEY="void-dhl-1",
        )
        assert not mocked.calls

    error = answer.json()["error"]
    assert (answer.status_code, error["code"]) == (422, "not_supported")
    assert "still valid" in error["message"]
    bought.refresh_from_db()
    assert (bought.status, bought.void_started_at) == (ShipmentStatus.PURCHASED, None)
    assert not Event.objects.filter(name="shipment.voided").exists()
    assert not ShipmentAttempt.objects.filter(operation="void_label").exists()


def test_the_refusal_is_raised_in_our_words_to_staff_too(bought):
    with pytest.raises(services.ShippingError) as refused:
        services.shipment_void(shipment=bought)
    assert refused.value.code == "not_supported"
    assert "picks the parcel up" in refused.value.message
