"""A label bought whose file comes garbled (an HTML error page, cut short,
base64 that is not): the carrier made and bills that label, so the shipment
is never failed nor bought again. It keeps the label's tracking number and
id, goes ``unknown`` with ``garbled_label_file``, and its file is fetched
again (Shippo, the sandbox) or staff settle it by hand (FedEx, UPS, DHL
Express: no look-up). Arranged with the contract harnesses' answers, built
from the provider specs' samples."""

import base64
import logging
from datetime import timedelta

import pytest
import responses
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from integrations.models import Event
from shipping import codec, services
from shipping.models import RateQuote, SandboxLabel, Shipment, ShipmentStatus
from shipping.providers.base import LabelRequest, RateRequest
from shipping.services.errors import InvalidState
from shipping.services.labels import RECONCILE_TASK
from shipping.services.settle import shipment_settle_by_hand
from tests.shipping.contract import (
    harness_dhl_express,
    harness_fedex,
    harness_sandbox,
    harness_shippo,
    harness_ups,
)
from tests.shipping.providers.wire import FIXTURES, load, sent

pytestmark = pytest.mark.django_db

# Carriers with no look-up of a label: staff settle it from the kept ids.
NO_LOOKUP = {
    "fedex": (harness_fedex, harness_fedex.SHIP_URL),
    "ups": (harness_ups, harness_ups.SHIP_URL),
    "dhl_express": (harness_dhl_express, f"{harness_dhl_express.BASE}/shipments"),
}
SHIPPO_PDF = (FIXTURES / "shippo" / "label.pdf").read_bytes()
SHIPPO_POST = f"{harness_shippo.BASE}/transactions"


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def _quote(account, request: LabelRequest) -> RateQuote:
    rate_request = RateRequest(
        from_address=request.from_address,
        to_address=request.to_address,
        parcels=request.parcels,
        customs=request.customs,
    )
    return RateQuote.objects.create(
        fingerprint="g" * 64,
        account=account,
        carrier=account.provider,
        service_code=request.service_code,
        service_name=request.service_code,
        carrier_rate_id=request.carrier_rate_id,
        amount=1000,
        currency="USD",
        request=codec.request_to_json(rate_request),
        expires_at=timezone.now() + timedelta(minutes=10),
    )


def _buy(harness, mocked, callbacks, key: str = "garbled-1"):
    account = harness.make_account()
    request = harness.label_garbled_file(mocked, account)
    quote = _quote(account, request)
    with callbacks(execute=True):
        shipment = services.shipment_buy(
            quote_id=quote.public_id,
            idempotency_key=key,
            label_format=request.label_format.value,
        )
    return shipment, quote


def _kept_unknown(shipment: Shipment) -> None:
    """Unknown, its label's ids kept, no file, no label_created event."""
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.UNKNOWN, shipment.failure_message
    assert shipment.failure_code == "garbled_label_file"
    assert "label file" in shipment.failure_message
    assert shipment.carrier_shipment_id and shipment.tracking_number
    assert bytes(shipment.label_data) == b""
    assert not Event.objects.filter(name="shipment.label_created").exists()
    assert Schedule.objects.filter(func=RECONCILE_TASK).exists()


@pytest.mark.parametrize("carrier", NO_LOOKUP)
def test_a_garbled_file_keeps_the_label_for_staff_never_rebought(
    mocked, django_capture_on_commit_callbacks, caplog, carrier
):
    harness, ship_url = NO_LOOKUP[carrier]
    caplog.set_level(logging.WARNING, logger="shipping.services.labels")

    shipment, quote = _buy(harness, mocked, django_capture_on_commit_callbacks)

    _kept_unknown(shipment)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert any("garbled" in r.getMessage() for r in errors)
    # Asked again: the same key answers the shipment, another key is refused.
    again = services.shipment_buy(quote_id=quote.public_id, idempotency_key="garbled-1")
    with pytest.raises(InvalidState) as refused:
        services.shipment_buy(quote_id=quote.public_id, idempotency_key="garbled-2")
    # The sweep cannot look it up: still unknown, its ids and reason kept.
    services.shipment_reconcile(shipment=shipment)
    assert again.pk == shipment.pk
    assert refused.value.code == "label_in_progress"
    assert len(sent(mocked, "POST", ship_url)) == 1
    _kept_unknown(shipment)


def test_staff_settle_a_garbled_label_from_its_kept_ids(
    mocked, django_capture_on_commit_callbacks
):
    shipment, _ = _buy(harness_fedex, mocked, django_capture_on_commit_callbacks)
    pdf = b"%PDF-1.4\nstaff's copy\n%%EOF\n"

    settled = shipment_settle_by_hand(
        shipment=shipment,
        outcome="bought",
        note="downloaded from FedEx Ship Manager",
        actor="staff@example.com",
        tracking_number=shipment.tracking_number,
        label_data=pdf,
    )

    assert settled.status == ShipmentStatus.PURCHASED
    made = load("fedex", "ship_response.json")["output"]["transactionShipments"][0]
    assert settled.carrier_shipment_id == made["masterTrackingNumber"]
    assert bytes(settled.label_data) == pdf


def test_shippo_a_garbled_file_is_fetched_again_by_the_poll_never_rebought(
    mocked, django_capture_on_commit_callbacks
):
    shipment, _ = _buy(harness_shippo, mocked, django_capture_on_commit_callbacks)
    _kept_unknown(shipment)
    assert shipment.carrier_shipment_id == harness_shippo.TRANSACTION
    assert shipment.tracking_number == harness_shippo.NUMBER
    tx_url = f"{SHIPPO_POST}/{harness_shippo.TRANSACTION}"
    mocked.get(tx_url, json=load("shippo", "transaction_success.json"))

    # The poll gets it garbled again: still unknown, asked again later.
    services.shipment_reconcile(shipment=shipment)
    _kept_unknown(shipment)
    mocked.replace("GET", harness_shippo.LABEL_URL, body=SHIPPO_PDF)
    services.shipment_reconcile(shipment=shipment)

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.PURCHASED
    assert bytes(shipment.label_data) == SHIPPO_PDF
    assert (shipment.failure_code, shipment.failure_message) == ("", "")
    assert Event.objects.filter(name="shipment.label_created").count() == 1
    assert len(sent(mocked, "POST", SHIPPO_POST)) == 1


def test_sandbox_a_garbled_file_heals_on_the_poll_with_one_label_sold(
    mocked, django_capture_on_commit_callbacks
):
    shipment, quote = _buy(harness_sandbox, mocked, django_capture_on_commit_callbacks)
    _kept_unknown(shipment)
    account = quote.account
    account.settings = {}
    account.save()

    services.shipment_reconcile(shipment=Shipment.objects.get(pk=shipment.pk))

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.PURCHASED
    assert bytes(shipment.label_data).startswith(b"%PDF-")
    assert SandboxLabel.objects.count() == 1


def test_a_line_wrapped_base64_label_is_read_whole(
    mocked, django_capture_on_commit_callbacks
):
    # MIME wraps base64 at 76 characters; the file inside is whole.
    account = harness_fedex.make_account()
    request = harness_fedex.label(mocked, account)
    answer = load("fedex", "ship_response.json")
    piece = answer["output"]["transactionShipments"][0]["pieceResponses"][0]
    pdf = base64.b64decode(piece["packageDocuments"][0]["encodedLabel"])
    wrapped = base64.encodebytes(pdf).decode()
    assert "\n" in wrapped
    piece["packageDocuments"][0]["encodedLabel"] = wrapped
    mocked.replace("POST", harness_fedex.SHIP_URL, json=answer)
    quote = _quote(account, request)

    with django_capture_on_commit_callbacks(execute=True):
        shipment = services.shipment_buy(quote_id=quote.public_id)

    assert shipment.status == ShipmentStatus.PURCHASED, shipment.failure_message
    assert bytes(shipment.label_data) == pdf


def test_the_settle_form_offers_the_kept_ids(
    mocked, django_capture_on_commit_callbacks, django_user_model
):
    shipment, _ = _buy(harness_ups, mocked, django_capture_on_commit_callbacks)
    user = django_user_model.objects.create_user("ops", password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_shipment", "settle_shipment"])
    )
    client = Client()
    client.force_login(user)

    page = client.get(reverse("admin:shipping_shipment_settle", args=[shipment.pk]))

    form = page.context["form"]
    assert form["tracking_number"].value() == shipment.tracking_number
    assert form["carrier_label_id"].value() == shipment.carrier_shipment_id
    assert form["label_format"].value() == "png"


def test_a_garbled_answer_after_the_sweep_gave_up_still_keeps_the_ids(
    mocked, django_capture_on_commit_callbacks
):
    # A buy so slow that the sweep moved it to unknown while FedEx answered.
    account = harness_fedex.make_account()
    request = harness_fedex.label_garbled_file(mocked, account)
    (ship,) = [m for m in mocked.registered() if m.url == harness_fedex.SHIP_URL]
    answer = ship.body
    mocked.remove(ship)

    def slow(sent_request):
        Shipment.objects.update(status=ShipmentStatus.UNKNOWN)
        return 200, {"Content-Type": "application/json"}, answer

    mocked.add_callback("POST", harness_fedex.SHIP_URL, callback=slow)
    quote = _quote(account, request)

    with django_capture_on_commit_callbacks(execute=True):
        shipment = services.shipment_buy(quote_id=quote.public_id)

    _kept_unknown(shipment)
