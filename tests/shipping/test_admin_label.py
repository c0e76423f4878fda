"""The admin's label download: the shipment page's permission, and never a
voided label (the API refuses both the same way)."""

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from shipping import codec
from shipping.models import Shipment, ShipmentParcel, ShipmentStatus
from tests.shipping.contract import requests
from tests.shipping.helpers import carrier

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4 customer name and home address"


def _shipment(key: str, status: str = ShipmentStatus.PURCHASED) -> Shipment:
    return Shipment.objects.create(
        account=carrier(f"label-admin-{key}"),
        from_address=codec.address_to_json(requests.SHIPPER),
        to_address=codec.address_to_json(requests.RECIPIENT),
        parcels=[codec.parcel_to_json(requests.PARCEL)] * 2,
        carrier="Sandbox",
        service_code="ground",
        amount=790,
        currency="USD",
        idempotency_key=key,
        status=status,
        tracking_number=f"SBX-{key}",
        carrier_shipment_id=f"SBX-{key}",
        label_data=PDF,
        label_format="pdf",
    )


def _staff(*codenames: str) -> Client:
    user = User.objects.create_user("staff-" + "-".join(codenames or ("none",)))
    user.is_staff = True
    user.save()
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def test_staff_without_the_shipment_permission_cannot_download_its_label():
    shipment = _shipment("noperm")
    url = f"/admin/shipping/shipment/{shipment.pk}/label/"
    response = _staff().get(url)
    assert response.status_code == 403
    assert PDF not in response.content
    allowed = _staff("view_shipment").get(url)
    assert allowed.status_code == 200 and allowed.content == PDF


def test_the_admin_never_serves_a_voided_label(admin_client):
    shipment = _shipment("voided", status=ShipmentStatus.VOIDED)
    ShipmentParcel.objects.create(
        shipment=shipment,
        sequence=2,
        tracking_number="SBX-voided-2",
        carrier_reference="SBX-voided-2",
        label_data=b"%PDF-1.4 parcel two",
    )
    url = f"/admin/shipping/shipment/{shipment.pk}/label/"
    assert admin_client.get(url).status_code == 404
    assert admin_client.get(url + "?parcel=2").status_code == 404


def test_the_admin_serves_a_live_parcel_label_but_not_a_refunded_one(admin_client):
    from django.utils import timezone

    shipment = _shipment("parcels")
    for sequence, voided in ((2, False), (3, True)):
        ShipmentParcel.objects.create(
            shipment=shipment,
            sequence=sequence,
            tracking_number=f"SBX-parcels-{sequence}",
            carrier_reference=f"SBX-parcels-{sequence}",
            label_data=f"%PDF-1.4 parcel {sequence}".encode(),
            voided_at=timezone.now() if voided else None,
        )
    url = f"/admin/shipping/shipment/{shipment.pk}/label/"
    assert admin_client.get(url + "?parcel=2").content == b"%PDF-1.4 parcel 2"
    assert admin_client.get(url + "?parcel=3").status_code == 404
    assert admin_client.get(url).content == PDF
