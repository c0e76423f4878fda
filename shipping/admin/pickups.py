"""Pickups: read-only list and page with its timeline (events, the staff
notes too); cancel as an action; a pickup whose booking is unknown is
settled on its page from what the carrier says."""

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.urls import path, reverse

from integrations.admin.readonly import ReadOnlyAdminMixin
from integrations.admin.search import PublicIdSearchMixin
from integrations.admin.timeline import TimelineAdminMixin
from integrations.errors import ProviderError
from integrations.timeline import TimelineEntry
from shipping import services
from shipping.models import Pickup, PickupStatus
from shipping.selectors import pickup_timeline


@admin.register(Pickup)
class PickupAdmin(
    PublicIdSearchMixin, TimelineAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin
):
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
    change_form_template = "admin/shipping/pickup/change_form.html"

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("shipping.change_pickup")

    @admin.action(description="Cancel selected pickups", permissions=["cancel"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Pickup]) -> None:
        for pickup in queryset.select_related("account"):
            try:
                services.pickup_cancel(pickup=pickup)
            except (services.ShippingError, ProviderError) as exc:
                # Staff read the carrier's own words the caller is not given.
                said = getattr(exc, "staff_detail", "")
                text = f"{exc} (the carrier said: {said})" if said else str(exc)
                self.message_user(
                    request, f"{pickup.public_id}: {text}", messages.ERROR
                )
                continue
            self.message_user(
                request, f"{pickup.public_id}: cancelled.", messages.SUCCESS
            )

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(self.resolve_view)
        return [
            path("<path:object_id>/resolve/", view, name="shipping_pickup_resolve"),
            *super().get_urls(),
        ]

    def get_timeline(self, obj: Pickup) -> list[TimelineEntry]:
        return pickup_timeline(obj)

    def change_page_context(self, request: HttpRequest, obj: Pickup) -> dict[str, Any]:
        if obj.status == PickupStatus.UNKNOWN and self.has_cancel_permission(request):
            return {
                "resolve_url": reverse("admin:shipping_pickup_resolve", args=[obj.pk])
            }
        return {}

    def resolve_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_cancel_permission(request):
            raise PermissionDenied
        pickup = self.get_object(request, unquote(object_id))
        if pickup is None:
            raise Http404("No such pickup.")
        number = request.POST.get("confirmation_number", "")
        try:
            settled = services.pickup_resolve(pickup=pickup, confirmation_number=number)
        except services.ShippingError as exc:
            self.message_user(request, f"{pickup.public_id}: {exc}", messages.ERROR)
        else:
            text = f"{settled.public_id}: {settled.get_status_display().lower()}"
            self.log_change(request, settled, text)
            self.message_user(request, text, messages.SUCCESS)
        return HttpResponseRedirect(
            reverse("admin:shipping_pickup_change", args=[pickup.pk])
        )
