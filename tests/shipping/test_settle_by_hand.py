"""Settle by hand: staff's outcome for an ``unknown`` label the carrier cannot
settle (no look-up by our key), through the shipment's admin page."""

import pytest
from django.contrib.admin.models import LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from integrations.models import Event
from shipping import services
from shipping.models import Shipment
from shipping.services.settle import shipment_settle_by_hand
from tests.shipping.helpers import carrier
from tests.shipping.test_labels import _quote
from tests.staff_clients import permitted_staff

pytestmark = pytest.mark.django_db


def settle_url(shipment: Shipment) -> str:
    return reverse("admin:shipping_shipment_settle", args=[shipment.pk])


def change_url(shipment: Shipment) -> str:
    return reverse("admin:shipping_shipment_change", args=[shipment.pk])


@pytest.fixture
def settler_client(db, django_user_model) -> Client:
    """May see shipments and settle unknown ones; nothing else."""
    return permitted_staff(
        django_user_model, "settler", "shipping", ["view_shipment", "settle_shipment"]
    )


@pytest.fixture
def viewer_client(db, django_user_model) -> Client:
    return permitted_staff(django_user_model, "viewer", "shipping", ["view_shipment"])


@pytest.fixture(name="unknown")
def unknown_shipment() -> Shipment:
    """A label whose answer was lost; the carrier could not be asked."""
    quote = _quote(carrier("slow", lose_label_answers=True))
    shipment = services.shipment_buy(quote_id=quote.public_id, idempotency_key="k1")
    assert shipment.status == "unknown"
    return shipment


def _names(shipment: Shipment) -> list[str]:
    found = Event.objects.filter(subject=shipment.public_id).order_by("pk")
    return list(found.values_list("name", flat=True))


def test_staff_settle_an_unknown_label_as_bought(settler_client, unknown):
    page = settler_client.get(change_url(unknown)).content.decode()
    assert settle_url(unknown) in page
    label = SimpleUploadedFile("label.pdf", b"%PDF-1.4 label\n%%EOF\n")

    answer = settler_client.post(
        settle_url(unknown),
        {
            "outcome": "bought",
            "tracking_number": " 1Z999 ",
            "label_format": "pdf",
            "label_file": label,
            "note": "On the carrier's site under our reference.",
        },
    )

    assert answer.status_code == 302
    unknown.refresh_from_db()
    assert (unknown.status, unknown.tracking_number) == ("purchased", "1Z999")
    assert bytes(unknown.label_data) == b"%PDF-1.4 label\n%%EOF\n"
    assert _names(unknown)[-2:] == [
        "shipment.label_created",
        "shipment.settled_by_hand",
    ]
    entry = LogEntry.objects.get(object_id=str(unknown.pk))
    assert "Settled by hand" in entry.get_change_message()
    page = settler_client.get(change_url(unknown)).content.decode()
    assert "Settled by hand as bought by settler" in page


def test_staff_settle_an_unknown_label_as_not_bought_and_the_quote_is_free(
    settler_client, unknown
):
    settler_client.post(
        settle_url(unknown),
        {"outcome": "not_bought", "note": "Support: no label under our reference."},
    )
    unknown.refresh_from_db()
    assert (unknown.status, unknown.failure_code) == ("failed", "not_found_at_carrier")
    assert "shipment.label_created" not in _names(unknown)
    # The quote may be bought again (under a new key; the carrier answers now).
    unknown.account.settings = {}
    unknown.account.save()
    again = services.shipment_buy(
        quote_id=unknown.quote.public_id, idempotency_key="k2"
    )
    assert again.status == "purchased"


def test_a_note_and_for_bought_a_tracking_number_are_required(settler_client, unknown):
    answer = settler_client.post(settle_url(unknown), {"outcome": "bought"})
    assert answer.status_code == 200
    errors = answer.context["form"].errors
    assert set(errors) == {"note", "tracking_number"}
    unknown.refresh_from_db()
    assert unknown.status == "unknown"


def test_settling_needs_its_own_permission(viewer_client, unknown):
    assert (
        settle_url(unknown)
        not in viewer_client.get(change_url(unknown)).content.decode()
    )
    answer = viewer_client.post(
        settle_url(unknown), {"outcome": "not_bought", "note": "x"}
    )
    assert answer.status_code == 403
    unknown.refresh_from_db()
    assert unknown.status == "unknown"


def test_only_an_unknown_shipment_is_settled_and_a_tracking_number_once(unknown):
    other = _quote(carrier("post"))
    bought = services.shipment_buy(quote_id=other.public_id, idempotency_key="k9")
    Shipment.objects.filter(pk=bought.pk).update(carrier=unknown.carrier)
    with pytest.raises(services.ShippingError) as owned:
        shipment_settle_by_hand(
            shipment=unknown,
            outcome="bought",
            tracking_number=bought.tracking_number,
            note="seen",
            actor="staff",
        )
    assert bought.public_id in owned.value.message
    with pytest.raises(services.ShippingError):
        shipment_settle_by_hand(
            shipment=bought, outcome="not_bought", note="seen", actor="staff"
        )


def test_a_shipment_settled_meanwhile_is_not_settled_again(unknown):
    stale = Shipment.objects.get(pk=unknown.pk)
    Shipment.objects.filter(pk=unknown.pk).update(status="failed")
    with pytest.raises(services.ShippingError) as caught:
        shipment_settle_by_hand(
            shipment=stale, outcome="not_bought", note="seen", actor="staff"
        )
    assert "meanwhile" in caught.value.message


def test_a_label_settled_bought_without_its_file_is_not_called_voided(unknown):
    """Staff settle an unknown label as bought without the file (the file is
    optional). The shop was told shipment.label_created; fetching the label
    says its file is not stored (label_not_stored), never that it "was voided"
    (the shop would take a live, billed label for dead)."""
    from rest_framework.test import APIClient

    from tests.factories import ApiKeyFactory

    shipment_settle_by_hand(
        shipment=unknown,
        outcome="bought",
        note="FedEx support confirmed it",
        actor="ops",
        tracking_number="794612345678",
    )
    api = APIClient()
    key = ApiKeyFactory(scopes=["shipping:read"])
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    answer = api.get(f"/api/v1/shipping/shipments/{unknown.public_id}/label/")
    error = answer.json()["error"]
    assert (answer.status_code, error["code"]) == (404, "label_not_stored")
    assert "voided" not in error["message"]


def _shippo_unknown(**changes) -> Shipment:
    from tests.factories import ProviderAccountFactory

    account = ProviderAccountFactory(kind="shipping", provider="shippo", slug="sh")
    values = {
        "account": account,
        "from_address": {},
        "to_address": {},
        "parcels": [],
        "carrier": "USPS",
        "service_code": "usps_priority",
        "amount": 790,
        "currency": "USD",
        "idempotency_key": "shippo-lost",
        "status": "unknown",
        **changes,
    }
    return Shipment.objects.create(**values)


def test_a_shippo_label_settled_bought_records_the_transaction_a_void_names():
    """Shippo voids (refunds) a label by its transaction id, not its tracking
    number: settling one bought asks for it (a later void would name the
    wrong label otherwise), and records it as the label's id."""
    from shipping.services.errors import InvalidState

    shipment = _shippo_unknown()
    with pytest.raises(InvalidState) as refused:
        shipment_settle_by_hand(
            shipment=shipment,
            outcome="bought",
            note="seen on Shippo's dashboard",
            actor="ops",
            tracking_number="9205590164917312751089",
        )
    assert refused.value.param == "carrier_label_id"
    shipment_settle_by_hand(
        shipment=shipment,
        outcome="bought",
        note="seen on Shippo's dashboard",
        actor="ops",
        tracking_number="9205590164917312751089",
        carrier_label_id="915d94940ea54c3a80cbfa328722f5a1",
    )
    shipment.refresh_from_db()
    assert (shipment.status, shipment.carrier_shipment_id) == (
        "purchased",
        "915d94940ea54c3a80cbfa328722f5a1",
    )


def test_a_shippo_label_whose_transaction_is_known_keeps_it_when_settled():
    shipment = _shippo_unknown(carrier_shipment_id="915d94940ea54c3a80cbfa328722f5a1")
    shipment_settle_by_hand(
        shipment=shipment,
        outcome="bought",
        note="seen on Shippo's dashboard",
        actor="ops",
        tracking_number="9205590164917312751089",
    )
    shipment.refresh_from_db()
    assert shipment.carrier_shipment_id == "915d94940ea54c3a80cbfa328722f5a1"
