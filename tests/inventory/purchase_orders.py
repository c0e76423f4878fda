"""Shared by the purchase-order tests: one order of one line (3 x SKU "A"
at 1.00 EUR) from supplier 55 to location 123; one left unresolved that
staff checked, and their "Found at the ERP" form posted for it."""

from django.urls import reverse

from inventory.models import PurchaseOrder, PurchaseOrderLine
from tests.inventory.factories import LocationFactory, SupplierFactory


def purchase_order(account=None, reference="", status="sent") -> PurchaseOrder:
    order = PurchaseOrder.objects.create(
        supplier=SupplierFactory(code="55"),
        location=LocationFactory(code="123"),
        currency="EUR",
        status=status,
        account=account,
        external_reference=reference,
    )
    PurchaseOrderLine.objects.create(
        purchase_order=order, sku="A", quantity=3, unit_cost=100
    )
    return order


def checked_by_staff(account) -> PurchaseOrder:
    """An order of ``account`` left unresolved (its send tried on 1
    December), checked by staff: the one "Found at the ERP" records."""
    order = purchase_order(account=account, status="unresolved")
    PurchaseOrder.objects.filter(pk=order.pk).update(
        last_error="unresolved: checked by staff", send_tried_at="2026-12-01T00:00Z"
    )
    order.refresh_from_db()
    return order


def found_at_erp_posted(admin_client, order: PurchaseOrder, reference: str):
    """Staff's "Found at the ERP" form for ``order`` posted with the ERP's
    ``reference``: the admin's answer."""
    url = reverse("admin:inventory_purchaseorder_found_at_erp", args=[order.pk])
    return admin_client.post(url, {"external_reference": reference})


def found_form_error(response) -> str:
    """The form shown again (a 200) with its error on the reference: the
    error's words."""
    assert response.status_code == 200
    return " ".join(response.context["form"].errors["external_reference"])
