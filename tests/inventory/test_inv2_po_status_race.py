"""Purchase-order status writes that cross: a send and a refresh (or two
refreshes) of one order at the same moment, each holding the order as it
read it. The one that writes last must not move the status back, nor undo
the other's fields."""

import pytest
import responses

from inventory import services
from inventory.models import PurchaseOrder, PurchaseOrderLine
from tests.inventory import netsuite_currency as nsc
from tests.inventory.contract import harness_netsuite as ns
from tests.inventory.factories import LocationFactory, SupplierFactory

pytestmark = pytest.mark.django_db

RECORD = f"{ns.BASE}/record/v1/purchaseOrder/{ns.PO_INTERNAL_ID}"


@pytest.fixture(autouse=True)
def _one_attempt(settings):
    settings.PROVIDER_MAX_ATTEMPTS = 1


def _order(status: str = "sent") -> PurchaseOrder:
    order = PurchaseOrder.objects.create(
        supplier=SupplierFactory(code="77"),
        location=LocationFactory(code="1"),
        currency="USD",
        status=status,
        account=ns.make_account(),
        external_reference=ns.PO_INTERNAL_ID,
    )
    PurchaseOrderLine.objects.create(
        purchase_order=order, sku="WIDGET-RED", quantity=3, unit_cost=100
    )
    return order


def _usd_listed(rsps) -> None:
    # A refresh compares the order's currency record (the documented one's
    # is 1, USD, the order's) with the one looked up for its currency.
    nsc.currency_answer(rsps, body=nsc.rows({"id": "1", "symbol": "USD"}))


def _answer(code: str, name: str) -> dict:
    record = ns.load("purchase_order.json")
    record["orderStatus"] = {"id": code, "refName": name}
    return record


def test_a_send_answered_before_a_refresh_does_not_undo_it():
    """The send read the order while it was sent and got NetSuite's older
    answer (A, pending approval); a refresh meanwhile stored confirmed (B).
    The send's write lands last: the order stays confirmed."""
    order = _order()
    stale = PurchaseOrder.objects.get(pk=order.pk)  # the send's copy
    with responses.RequestsMock() as rsps:
        _usd_listed(rsps)
        rsps.get(RECORD, json=_answer("B", "Pending Receipt"))
        rsps.get(RECORD, json=_answer("A", "Pending Supervisor Approval"))
        services.purchase_order_refresh(purchase_order=order)
        services.purchase_order_send(purchase_order=stale)

    order.refresh_from_db()
    assert (order.status, order.raw_status) == ("confirmed", "Pending Receipt")
    assert stale.status == "confirmed"  # the caller sees what is stored


def test_an_older_refresh_written_last_moves_no_status_back():
    order = _order()
    slow = PurchaseOrder.objects.get(pk=order.pk)
    with responses.RequestsMock() as rsps:
        _usd_listed(rsps)
        rsps.get(RECORD, json=_answer("G", "Fully Billed"))
        rsps.get(RECORD, json=_answer("B", "Pending Receipt"))
        services.purchase_order_refresh(purchase_order=order)
        services.purchase_order_refresh(purchase_order=slow)

    order.refresh_from_db()
    assert (order.status, order.raw_status) == ("received", "Fully Billed")


def test_a_refresh_keeps_what_a_concurrent_failed_send_stored():
    """A status write changes only its own fields: the error a concurrent
    send stored on the order is not overwritten by a refresh's stale copy."""
    order = _order()
    stale = PurchaseOrder.objects.get(pk=order.pk)
    PurchaseOrder.objects.filter(pk=order.pk).update(
        last_error="timeout: NetSuite did not answer"
    )
    with responses.RequestsMock() as rsps:
        _usd_listed(rsps)
        rsps.get(RECORD, json=_answer("B", "Pending Receipt"))
        services.purchase_order_refresh(purchase_order=stale)

    order.refresh_from_db()
    assert order.status == "confirmed"
    assert order.last_error == "timeout: NetSuite did not answer"
