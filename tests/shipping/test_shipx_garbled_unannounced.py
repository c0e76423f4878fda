"""A label whose file came garbled is kept with its ``unknown`` shipment
(its ids, for the poll and for staff) but not announced: no
``shipment.label_created`` went out. The storefront sees of it what the
events told it, nothing: no tracking number, no label link, no scans, no
``shipment.tracking_updated``; all of it once the label is whole. A scan the
carrier posted meanwhile is kept, and the label made whole never takes the
parcel back to ``pre_transit``."""

from datetime import timedelta

import pytest
import responses
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from integrations.models import Event
from shipping import services
from shipping.models import ShipmentStatus
from shipping.providers import sandbox_rules
from shipping.services.settle import shipment_settle_by_hand
from tests.factories import ApiKeyFactory
from tests.payments.conftest import webhook_body, webhook_headers
from tests.shipping.contract import harness_sandbox
from tests.shipping.test_models import _shipment
from tests.shipping.test_ship5_garbled_label_buy import _buy

pytestmark = pytest.mark.django_db
PDF = b"%PDF-1.4\nstaff's copy\n%%EOF\n"


def _api() -> APIClient:
    client = APIClient()
    key = ApiKeyFactory(scopes=["shipping:read"])
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    return client


def _seen(shipment) -> dict:
    answer = _api().get(f"/api/v1/shipping/shipments/{shipment.public_id}/")
    assert answer.status_code == 200, answer.content
    return answer.json()


def test_a_garbled_label_shows_no_tracking_number_until_it_is_whole(
    django_capture_on_commit_callbacks,
):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        shipment, quote = _buy(
            harness_sandbox, mocked, django_capture_on_commit_callbacks
        )
    assert shipment.status == ShipmentStatus.UNKNOWN
    assert shipment.tracking_number  # kept for the poll and staff

    seen = _seen(shipment)
    label = _api().get(f"/api/v1/shipping/shipments/{shipment.public_id}/label/")
    listed = _api().get("/api/v1/shipping/shipments/").json()

    assert (seen["tracking_number"], seen["label_url"]) == ("", None)
    assert label.status_code == 404
    assert label.json()["error"]["code"] == "no_label"
    assert shipment.tracking_number not in str(listed)
    assert not Event.objects.filter(name="shipment.label_created").exists()

    quote.account.settings = {}
    quote.account.save()
    services.shipment_reconcile(shipment=shipment)

    seen = _seen(shipment)
    (created,) = Event.objects.filter(name="shipment.label_created")
    assert seen["status"] == "purchased"
    assert seen["tracking_number"] == created.payload["tracking_number"] != ""
    assert seen["label_url"]


def test_a_not_bought_garbled_label_shows_no_tracking_number(
    django_capture_on_commit_callbacks,
):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        shipment, _ = _buy(harness_sandbox, mocked, django_capture_on_commit_callbacks)

    shipment_settle_by_hand(
        shipment=shipment,
        outcome="not_bought",
        note="the carrier has no such label",
        actor="staff@example.com",
    )

    seen = _seen(shipment)
    assert seen["status"] == "failed"
    assert (seen["tracking_number"], seen["label_url"]) == ("", None)


def _unannounced(account, steps: int = 3):
    # As a garbled buy leaves it, its number ``steps`` scans old.
    number = sandbox_rules.tracking_number(
        created_at=timezone.now() - timedelta(seconds=steps * 600 + 5),
        key="garbled",
        exception=False,
    )
    return _shipment(
        account,
        status=ShipmentStatus.UNKNOWN,
        failure_code="garbled_label_file",
        tracking_number=number,
        carrier_shipment_id=number,
    )


def _settled_bought(shipment) -> None:
    """Staff settle the unannounced label as bought, with its PDF."""
    shipment_settle_by_hand(
        shipment=shipment,
        outcome="bought",
        note="downloaded from the carrier's site",
        actor="staff@example.com",
        tracking_number=shipment.tracking_number,
        label_data=PDF,
    )


def _post_tracking(account, number: str, callbacks) -> None:
    body = webhook_body("shipment.tracking_updated", tracking_number=number)
    with callbacks(execute=True):
        answer = Client().post(
            f"/webhooks/{account.slug}/",
            data=body,
            content_type="application/json",
            **webhook_headers(body),
        )
    assert answer.status_code == 200, answer.content


def test_scans_of_an_unannounced_label_wait_for_it_and_never_go_back(
    django_capture_on_commit_callbacks,
):
    account = harness_sandbox.make_account()
    shipment = _unannounced(account)

    _post_tracking(
        account, shipment.tracking_number, django_capture_on_commit_callbacks
    )

    seen = _seen(shipment)
    assert shipment.tracking_events.count() == 4  # kept
    assert seen["tracking_events"] == []
    assert seen["tracking_status"] == "unknown"
    assert not Event.objects.filter(name__startswith="shipment.").exists()

    _settled_bought(shipment)

    shipment.refresh_from_db()
    (created,) = Event.objects.filter(name="shipment.label_created")
    # The scans held back go out after the label, as they would have.
    names = list(
        Event.objects.filter(name__startswith="shipment.")
        .exclude(name="shipment.settled_by_hand")
        .order_by("pk")
        .values_list("name", flat=True)
    )
    (tracked,) = Event.objects.filter(name="shipment.tracking_updated")
    seen = _seen(shipment)
    assert names == ["shipment.label_created", "shipment.tracking_updated"]
    assert tracked.payload["tracking_status"] == "out_for_delivery"
    assert shipment.tracking_status == "out_for_delivery"
    assert created.payload["tracking_status"] == "out_for_delivery"
    assert seen["tracking_status"] == "out_for_delivery"
    assert len(seen["tracking_events"]) == 4


def test_a_delivery_held_back_is_announced_after_the_label(
    django_capture_on_commit_callbacks,
):
    account = harness_sandbox.make_account()
    shipment = _unannounced(account, steps=4)
    _post_tracking(
        account, shipment.tracking_number, django_capture_on_commit_callbacks
    )
    assert not Event.objects.filter(name__startswith="shipment.").exists()

    _settled_bought(shipment)

    names = list(
        Event.objects.filter(name__startswith="shipment.")
        .exclude(name="shipment.settled_by_hand")
        .order_by("pk")
        .values_list("name", flat=True)
    )
    assert names == [
        "shipment.label_created",
        "shipment.tracking_updated",
        "shipment.delivered",
    ]
