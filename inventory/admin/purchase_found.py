""" "Found at the ERP": staff who find an ``unresolved`` purchase order at its
ERP record the ERP's order id on the order's own page (a form, not a bare
action: it needs the id); the service asks the ERP before recording it."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from integrations.admin.staff_action import StaffAction, StaffActionForm
from integrations.errors import ProviderError
from integrations.secrets_registry import staff_text
from inventory import services
from inventory.models import PurchaseOrder, PurchaseOrderStatus


class FoundAtErpForm(StaffActionForm):
    external_reference = forms.CharField(
        label="The ERP's order id",
        max_length=PurchaseOrder._meta.get_field("external_reference").max_length,
        help_text="As the ERP shows it (TradeGecko: the number in the order's "
        "address). The ERP is asked for it before it is recorded.",
    )


class FoundAtErpAction(StaffAction):
    route = "found-at-erp"
    form_class = FoundAtErpForm
    template = "admin/inventory/purchaseorder/found_at_erp.html"
    object_name = "order"

    def allowed(self, request: HttpRequest) -> bool:
        return self.model_admin.has_operate_permission(request)  # type: ignore[attr-defined]

    def refusal(self, order: PurchaseOrder) -> str:
        if order.status == PurchaseOrderStatus.UNRESOLVED:
            return ""
        return (
            f"{order.public_id} is {order.status}, not unresolved: nothing to record."
        )

    def title(self, order: PurchaseOrder) -> str:
        return f"{order.public_id}: found at the ERP"

    def apply(
        self, request: HttpRequest, order: PurchaseOrder, form: FoundAtErpForm
    ) -> bool:
        """Record the id; False (the form holds why) when refused."""
        reference = form.cleaned_data["external_reference"]
        try:
            services.purchase_order_found(
                purchase_order=order, external_reference=reference
            )
        except services.InventoryError as error:
            return form.refuse(error.message, "external_reference")
        except ProviderError as error:
            return form.refuse(
                f"The ERP could not be asked ({staff_text(str(error))}); "
                "nothing was recorded.",
                "external_reference",
            )
        self.model_admin.message_user(
            request,
            f"{order.public_id}: recorded as the ERP's order "
            f"{order.external_reference} ({order.status}).",
        )
        return True


class PurchaseOrderFoundMixin:
    """For ``PurchaseOrderAdmin``: the action that opens the form, and its
    view."""

    def get_urls(self) -> list[Any]:
        return [FoundAtErpAction(self).url(), *super().get_urls()]  # type: ignore[arg-type, misc]

    @admin.action(
        description="Found at the ERP (record its order id)", permissions=["operate"]
    )
    def found_at_erp(
        self, request: HttpRequest, queryset: QuerySet[PurchaseOrder]
    ) -> HttpResponse | None:
        """One unresolved order at a time: each needs its own ERP id."""
        orders = list(queryset[:2])
        if len(orders) != 1 or orders[0].status != PurchaseOrderStatus.UNRESOLVED:
            self.message_user(  # type: ignore[attr-defined]
                request,
                "Choose one unresolved order to record the ERP's order id for.",
                messages.WARNING,
            )
            return None
        url = reverse("admin:inventory_purchaseorder_found_at_erp", args=[orders[0].pk])
        return HttpResponseRedirect(url)
