"""Shared by the purchase-order tests: one order of one line (3 x SKU "A"
at 1.00 EUR) from supplier 55 to location 123."""

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
