"""Pickups: read-only list and page; cancel as an action."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from integrations.admin.readonly import ReadOnlyAdminMixin
from integrations.admin.search import PublicIdSearchMixin
from integrations.errors import ProviderError
from shipping import services
from shipping.models import Pickup


@admin.register(Pickup)
class PickupAdmin(PublicIdSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "public_id",
        "account",
        "pickup_date",
        "ready_time",
        "close_time",
        "parcel_count",
        "status",
        "confirmation_number",
    ]
    list_filter = ["status", "pickup_date", "account"]
    search_fields = ["=public_id", "confirmation_number"]
    list_select_related = ["account"]
    actions = ["cancel"]

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("shipping.change_pickup")

    @admin.action(description="Cancel selected pickups", permissions=["cancel"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Pickup]) -> None:
        for pickup in queryset.select_related("account"):
            try:
                services.pickup_cancel(pickup=pickup)
            except (services.ShippingError, ProviderError) as exc:
                self.message_user(request, f"{pickup.public_id}: {exc}", messages.ERROR)
                continue
            self.message_user(
                request, f"{pickup.public_id}: cancelled.", messages.SUCCESS
            )
