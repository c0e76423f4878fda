"""Suppliers, reorder points and purchase orders. Orders are drafted from
reorder points (an action here, on the stock page, or a command), then sent
and followed back by actions that each call one service."""

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from integrations import money
from integrations.admin.display import money_display
from integrations.admin.readonly import ReadOnlyAdminMixin
from integrations.admin.search import PublicIdSearchMixin
from integrations.errors import ProviderError
from inventory import services
from inventory.admin.purchase_found import PurchaseOrderFoundMixin
from inventory.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderStatus,
    ReorderPoint,
    Supplier,
)


class SupplierForm(forms.ModelForm):
    class Meta:
        model = Supplier
        fields = ["code", "name", "currency"]

    def clean_currency(self) -> str:
        # The orders drafted for this supplier are priced in it.
        try:
            return money.validate_currency(self.cleaned_data["currency"])
        except money.MoneyError:
            raise forms.ValidationError(
                "Not an ISO 4217 currency code (e.g. EUR)."
            ) from None


@admin.register(Supplier)
class SupplierAdmin(admin.ModelAdmin):
    form = SupplierForm
    list_display = ["code", "name", "currency"]
    search_fields = ["code", "name"]


class ReorderPointForm(forms.ModelForm):
    class Meta:
        model = ReorderPoint
        fields = [
            "sku",
            "supplier",
            "location",
            "reorder_level",
            "reorder_quantity",
            "unit_cost",
        ]

    def clean_unit_cost(self) -> int:
        # A negative cost would reach the ERP as a negative price.
        cost = self.cleaned_data["unit_cost"]
        if cost is not None and cost < 0:
            raise forms.ValidationError(
                "A unit cost cannot be negative (0 leaves the price to the ERP)."
            )
        return cost


@admin.register(ReorderPoint)
class ReorderPointAdmin(admin.ModelAdmin):
    form = ReorderPointForm
    list_display = [
        "sku",
        "supplier",
        "location",
        "reorder_level",
        "reorder_quantity",
        "unit_cost",
    ]
    list_filter = ["supplier", "location"]
    search_fields = ["sku"]
    actions = ["draft_purchase_orders"]

    @admin.action(description="Create draft purchase orders", permissions=["change"])
    def draft_purchase_orders(
        self, request: HttpRequest, queryset: QuerySet[ReorderPoint]
    ) -> None:
        orders = services.purchase_orders_draft(
            skus=queryset.values_list("sku", flat=True)
        )
        self.message_user(request, f"Drafted {len(orders)} purchase order(s).")


class PurchaseOrderLineInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = PurchaseOrderLine
    fields = ["sku", "quantity", "unit_cost"]
    extra = 0


@admin.register(PurchaseOrder)
class PurchaseOrderAdmin(
    PurchaseOrderFoundMixin,
    PublicIdSearchMixin,
    ReadOnlyAdminMixin,
    admin.ModelAdmin,
):
    list_display = [
        "public_id",
        "supplier",
        "location",
        "status",
        "total",
        "external_reference",
        "account",
        "last_error",
        "created_at",
    ]
    list_filter = ["status", "supplier"]
    search_fields = ["public_id", "external_reference", "lines__sku"]
    list_select_related = ["supplier", "location", "account"]
    inlines = [PurchaseOrderLineInline]
    actions = ["send", "send_checked", "found_at_erp", "refresh"]

    def has_operate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("inventory.change_purchaseorder")

    def get_queryset(self, request: HttpRequest) -> QuerySet[PurchaseOrder]:
        return super().get_queryset(request).prefetch_related("lines")

    @admin.display(description="total")
    def total(self, order: PurchaseOrder) -> str:
        amount = sum(x.quantity * x.unit_cost for x in order.lines.all())
        return money_display(amount, order.currency)

    @admin.action(description="Send to the ERP", permissions=["operate"])
    def send(self, request: HttpRequest, queryset: QuerySet[PurchaseOrder]) -> None:
        for order in queryset:
            try:
                services.purchase_order_send(purchase_order=order)
            except (ProviderError, services.InventoryError) as error:
                self.message_user(
                    request, f"{order.public_id}: not sent ({error})", messages.ERROR
                )
                continue
            self.message_user(
                request, f"{order.public_id}: sent as {order.external_reference}"
            )

    @admin.action(
        description="Send unresolved orders again (checked: not at the ERP)",
        permissions=["operate"],
    )
    def send_checked(
        self, request: HttpRequest, queryset: QuerySet[PurchaseOrder]
    ) -> None:
        # Only unresolved ones: staff checked those at the ERP, not the rest.
        for order in queryset:
            if order.status != PurchaseOrderStatus.UNRESOLVED:
                self.message_user(
                    request,
                    f"{order.public_id}: not unresolved; use Send to the ERP.",
                    messages.WARNING,
                )
                continue
            try:
                services.purchase_order_send(purchase_order=order, checked=True)
            except (ProviderError, services.InventoryError) as error:
                self.message_user(
                    request, f"{order.public_id}: not sent ({error})", messages.ERROR
                )
                continue
            self.message_user(
                request, f"{order.public_id}: sent as {order.external_reference}"
            )

    @admin.action(description="Refresh status from the ERP", permissions=["operate"])
    def refresh(self, request: HttpRequest, queryset: QuerySet[PurchaseOrder]) -> None:
        for order in queryset.select_related("account"):
            try:
                services.purchase_order_refresh(purchase_order=order)
            except (ProviderError, services.InventoryError) as error:
                self.message_user(
                    request, f"{order.public_id}: {error}", messages.ERROR
                )
