"""A label settled as not bought (failure ``not_found_at_carrier``) that the
carrier then scans is ``unknown`` again: its failure fields described the
settled state, not this one, so they move to the shipment's timeline and are
cleared (as a payment's are once it moves on). Was: the storefront read
``failure.code`` not_found_at_carrier on a shipment we were asking about."""

import pytest
from rest_framework.test import APIClient

from integrations.models import Event
from shipping.models import ShipmentStatus
from shipping.services.settle import NOT_BOUGHT_CODE
from tests.factories import ApiKeyFactory
from tests.shipping.contract import harness_sandbox
from tests.shipping.test_revshipx_not_bought_scanned import _not_bought
from tests.shipping.test_shipx_garbled_unannounced import _post_tracking, _unannounced

pytestmark = pytest.mark.django_db


def _reopened(callbacks):
    account = harness_sandbox.make_account()
    shipment = _unannounced(account)
    _not_bought(shipment)
    assert shipment.failure_code == NOT_BOUGHT_CODE
    _post_tracking(account, shipment.tracking_number, callbacks)
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.UNKNOWN
    return shipment


def test_a_reopened_shipment_shows_no_stale_failure(django_capture_on_commit_callbacks):
    shipment = _reopened(django_capture_on_commit_callbacks)

    assert (shipment.failure_code, shipment.failure_message) == ("", "")
    key = ApiKeyFactory(scopes=["shipping:read"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    shown = api.get(f"/api/v1/shipping/shipments/{shipment.public_id}/").json()
    assert shown["status"] == "unknown"
    assert shown["failure"] is None


def test_the_timeline_keeps_the_cleared_failure(
    django_capture_on_commit_callbacks, admin_client
):
    shipment = _reopened(django_capture_on_commit_callbacks)

    cleared = Event.objects.get(
        subject=shipment.public_id, name="shipment.failure_cleared"
    )
    assert cleared.payload["failure_code"] == NOT_BOUGHT_CODE
    assert cleared.payload["failure_message"] == "Staff found no label at the carrier."
    assert cleared.payload["status"] == ShipmentStatus.FAILED
    page = admin_client.get(f"/admin/shipping/shipment/{shipment.pk}/change/")
    html = page.content.decode()
    assert f"Failure cleared (was failed): {NOT_BOUGHT_CODE}" in html
    assert "Staff found no label at the carrier." in html


def test_the_cleared_failure_is_never_sent_to_a_storefront():
    from storefront_hooks.catalog import EVENT_TYPES

    assert "shipment.failure_cleared" not in EVENT_TYPES
