"""The shipment page offers a void only where the carrier has one: a bought
DHL Express label (MyDHL cannot cancel a shipment) shows no Void button but
a line saying why and what to do; a carrier with a void keeps its button."""

import pytest

from shipping.models import Shipment, ShipmentStatus
from tests.factories import ProviderAccountFactory
from tests.shipping.test_ship_dhl_void import bought  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def _page(admin_client, shipment: Shipment) -> str:
    answer = admin_client.get(f"/admin/shipping/shipment/{shipment.pk}/change/")
    assert answer.status_code == 200
    return answer.content.decode()


def test_a_dhl_shipment_page_has_no_void_button_and_says_why(
    admin_client,
    bought,  # noqa: F811
):
    page = _page(admin_client, bought)

    assert 'id="void-button"' not in page
    assert 'id="void-note"' in page
    assert "DHL Express has no void" in page
    assert "picks the parcel up" in page


def test_a_carrier_with_a_void_keeps_its_button_and_no_note(admin_client):
    account = ProviderAccountFactory(
        kind="shipping", provider="sandbox", slug="sandbox-ship2"
    )
    shipment = Shipment.objects.create(
        account=account,
        from_address={},
        to_address={},
        parcels=[],
        carrier="Sandbox",
        service_code="ground",
        amount=700,
        currency="USD",
        idempotency_key="sandbox-ship2-1",
        status=ShipmentStatus.PURCHASED,
        tracking_number="SBX1",
        carrier_shipment_id="SBX1",
    )

    page = _page(admin_client, shipment)

    assert 'id="void-button"' in page
    assert 'id="void-note"' not in page


def test_an_unbought_dhl_shipment_page_says_nothing_of_voids(
    admin_client,
    bought,  # noqa: F811
):
    Shipment.objects.filter(pk=bought.pk).update(status=ShipmentStatus.FAILED)

    page = _page(admin_client, bought)

    assert 'id="void-button"' not in page
    assert 'id="void-note"' not in page
