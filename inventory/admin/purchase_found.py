""" "Found at the ERP": staff who find an ``unresolved`` purchase order at its
ERP record the ERP's order id on the order's own page (a form, not a bare
action: it needs the id); the service asks the ERP before recording it."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from integrations.errors import ProviderError
from integrations.secrets_registry import staff_text
from inventory import services
from inventory.models import PurchaseOrder, PurchaseOrderStatus

TEMPLATE = "admin/inventory/purchaseorder/found_at_erp.html"


class FoundAtErpForm(forms.Form):
    external_reference = forms.CharField(
        label="The ERP's order id",
        max_length=PurchaseOrder._meta.get_field("external_reference").max_length,
        help_text="As the ERP shows it (TradeGecko: the number in the order's "
        "address). The ERP is asked for it before it is recorded.",
    )


class PurchaseOrderFoundMixin:
    """For ``PurchaseOrderAdmin``: the action that opens the form, and its
    view."""

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view  # type: ignore[attr-defined]
        return [
            path(
                "<path:object_id>/found-at-erp/",
                view(self.found_at_erp_view),
                name="inventory_purchaseorder_found_at_erp",
            ),
            *super().get_urls(),  # type: ignore[misc]
        ]

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

    def found_at_erp_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_operate_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied
        order = self.get_object(request, unquote(object_id))  # type: ignore[attr-defined]
        if order is None:
            raise Http404("No such purchase order.")
        change_url = reverse("admin:inventory_purchaseorder_change", args=[order.pk])
        if order.status != PurchaseOrderStatus.UNRESOLVED:
            self.message_user(  # type: ignore[attr-defined]
                request,
                f"{order.public_id} is {order.status}, not unresolved: nothing "
                "to record.",
                messages.WARNING,
            )
            return HttpResponseRedirect(change_url)
        form = FoundAtErpForm(request.POST if request.method == "POST" else None)
        if form.is_valid() and self._record(request, order, form):
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "title": f"{order.public_id}: found at the ERP",
            "opts": self.opts,  # type: ignore[attr-defined]
            "order": order,
            "form": form,
            "change_url": change_url,
        }
        return TemplateResponse(request, TEMPLATE, context)

    def _record(
        self, request: HttpRequest, order: PurchaseOrder, form: FoundAtErpForm
    ) -> bool:
        """Record the id; False (the form holds why) when refused."""
        reference = form.cleaned_data["external_reference"]
        try:
            services.purchase_order_found(
                purchase_order=order, external_reference=reference
            )
        except services.InventoryError as error:
            form.add_error("external_reference", error.message)
            return False
        except ProviderError as error:
            form.add_error(
                "external_reference",
                f"The ERP could not be asked ({staff_text(str(error))}); "
                "nothing was recorded.",
            )
            return False
        self.message_user(  # type: ignore[attr-defined]
            request,
            f"{order.public_id}: recorded as the ERP's order "
            f"{order.external_reference} ({order.status}).",
        )
        return True
