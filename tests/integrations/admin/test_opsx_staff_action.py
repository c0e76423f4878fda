"""Payments' "Settle by hand" and inventory's "Found at the ERP" are one shared
staff action (integrations.admin.staff_action): same URL shape and names, same
form base. Their behaviour is tested in their apps' admin tests."""

from django.contrib import admin
from django.urls import reverse

from integrations.admin.staff_action import StaffActionForm
from inventory.admin.purchase_found import FoundAtErpAction, FoundAtErpForm
from inventory.models import PurchaseOrder
from payments.admin.settle import SettleAction
from payments.forms import SettleForm
from payments.models import Payment


def test_both_pages_are_the_shared_staff_action_at_their_old_urls():
    settle = SettleAction(admin.site._registry[Payment])
    found = FoundAtErpAction(admin.site._registry[PurchaseOrder])
    assert settle.url_name == "payments_payment_settle"
    assert found.url_name == "inventory_purchaseorder_found_at_erp"
    assert reverse("admin:payments_payment_settle", args=[7]).endswith("/7/settle/")
    assert reverse("admin:inventory_purchaseorder_found_at_erp", args=[7]).endswith(
        "/7/found-at-erp/"
    )
    assert issubclass(SettleForm, StaffActionForm)
    assert issubclass(FoundAtErpForm, StaffActionForm)


def test_a_refusal_goes_on_the_form_and_keeps_the_page():
    form = FoundAtErpForm({"external_reference": "SO-1"})
    assert form.is_valid()
    assert form.refuse("The ERP has no order SO-1.", "external_reference") is False
    assert form.errors == {"external_reference": ["The ERP has no order SO-1."]}
