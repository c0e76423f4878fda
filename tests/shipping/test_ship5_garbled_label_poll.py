"""The reconciliation poll (``retrieve_label``: the sweep, a scheduled
reconcile) of a label whose answer was lost, when the carrier's file comes
garbled: nothing stored as the customer's label; the shipment stays
``unknown`` with the label's ids and ``garbled_label_file``, and a later
sweep that gets the whole file records it, once. Never a second buy."""

import pytest
import responses

from integrations.errors import Unknown
from integrations.models import Event
from shipping import services
from shipping.models import SandboxLabel, Shipment, ShipmentStatus
from shipping.providers.sandbox import SandboxShippingAdapter
from tests.shipping.contract import harness_sandbox, harness_shippo, requests
from tests.shipping.providers.wire import FIXTURES, load, sent

pytestmark = pytest.mark.django_db

PDF = (FIXTURES / "shippo" / "label.pdf").read_bytes()
TX_POST = f"{harness_shippo.BASE}/transactions"
TX_URL = f"{TX_POST}/{harness_shippo.TRANSACTION}"


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def _lost_answer(account) -> Shipment:
    # A buy whose answer was lost after Shippo named its transaction.
    return Shipment.objects.create(
        account=account,
        from_address={},
        to_address={},
        parcels=[],
        carrier="USPS",
        service_code="usps_priority",
        amount=790,
        currency="USD",
        idempotency_key="lost-1",
        status=ShipmentStatus.UNKNOWN,
        carrier_shipment_id=harness_shippo.TRANSACTION,
    )


@pytest.mark.parametrize(
    "body",
    [requests.GARBLED_FILE, PDF[: len(PDF) // 2], b""],
    ids=["an HTML page", "a cut PDF", "an empty file"],
)
def test_a_garbled_file_on_the_poll_is_asked_again_by_the_next_sweep(mocked, body):
    account = harness_shippo.make_account()
    mocked.get(TX_URL, json=load("shippo", "transaction_success.json"))
    mocked.get(harness_shippo.LABEL_URL, body=body)
    shipment = _lost_answer(account)

    services.shipments_reconcile_unknown()

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.UNKNOWN
    assert shipment.failure_code == "garbled_label_file"
    assert shipment.carrier_shipment_id == harness_shippo.TRANSACTION
    assert shipment.tracking_number == harness_shippo.NUMBER
    assert bytes(shipment.label_data) == b""
    assert not Event.objects.filter(name="shipment.label_created").exists()
    mocked.replace("GET", harness_shippo.LABEL_URL, body=PDF)

    services.shipments_reconcile_unknown()

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.PURCHASED
    assert bytes(shipment.label_data) == PDF
    assert shipment.failure_code == ""
    assert Event.objects.filter(name="shipment.label_created").count() == 1
    assert not sent(mocked, "POST", TX_POST)


def test_a_sandbox_label_lost_then_garbled_is_kept_unknown(mocked):
    account = harness_sandbox.make_account()
    account.settings = {"lose_label_answers": True, "garble_label_files": True}
    account.save()
    request = requests.label_request("SBX_GROUND")

    with pytest.raises(Unknown):  # the label sold, its answer lost
        SandboxShippingAdapter(account).create_label(request)
    shipment = _lost_answer(account)
    Shipment.objects.filter(pk=shipment.pk).update(
        idempotency_key=request.idempotency_key, carrier_shipment_id=""
    )

    services.shipment_reconcile(shipment=Shipment.objects.get(pk=shipment.pk))

    shipment.refresh_from_db()
    sold = SandboxLabel.objects.get()
    assert shipment.status == ShipmentStatus.UNKNOWN
    assert shipment.failure_code == "garbled_label_file"
    assert shipment.tracking_number == sold.tracking_number
    assert bytes(shipment.label_data) == b""
