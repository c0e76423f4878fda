"""The shipment list and page: read-only fields, the tracking timeline, the
label download, and buttons for void, reconcile and a tracking refresh."""

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from integrations.admin.display import money_column
from integrations.admin.readonly import ReadOnlyAdminMixin
from integrations.admin.search import PublicIdSearchMixin
from integrations.admin.timeline import TimelineAdminMixin
from integrations.errors import ProviderError
from integrations.timeline import TimelineEntry, timeline_sorted
from shipping import services
from shipping.admin.compare import CompareRatesMixin
from shipping.admin.pickup_schedule import SchedulePickupMixin
from shipping.admin.settle import ShipmentSettleMixin, settle_entries
from shipping.models import Shipment, ShipmentStatus
from shipping.selectors import (
    parcel_label,
    shipment_label,
    shipment_timeline,
    shipment_void_missing,
)

_CONTENT_TYPES = {"pdf": "application/pdf", "zpl": "text/plain", "png": "image/png"}
# Button -> the service it calls and what the message says it did.
_OPERATIONS: dict[str, Callable[[Shipment], object]] = {
    "void": lambda s: services.shipment_void(shipment=s),
    "reconcile": lambda s: services.shipment_reconcile(shipment=s),
    "track": lambda s: services.shipment_tracking_refresh(shipment=s),
}


@admin.register(Shipment)
class ShipmentAdmin(
    PublicIdSearchMixin,
    CompareRatesMixin,
    SchedulePickupMixin,
    ShipmentSettleMixin,
    TimelineAdminMixin,
    ReadOnlyAdminMixin,
    admin.ModelAdmin,
):
    change_form_template = "admin/shipping/shipment/change_form.html"
    change_list_template = "admin/shipping/shipment/change_list.html"
    list_display = [
        "public_id",
        "order_id",
        "status",
        "tracking_status",
        "carrier",
        "service_name",
        "price",
        "tracking_number",
        "created_at",
    ]
    list_filter = ["status", "tracking_status", "carrier", "created_at"]
    search_fields = ["=public_id", "order_id", "tracking_number"]
    list_select_related = ["account"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = [
        "public_id",
        "order_id",
        "status",
        "tracking_status",
        "account",
        "carrier",
        "service_code",
        "service_name",
        "price",
        "tracking_number",
        "label_link",
        "estimated_delivery",
        "delivered_at",
        "to_address",
        "from_address",
        "parcels",
        "customs",
        "failure_code",
        "failure_message",
        "created_at",
    ]
    readonly_fields = ["price", "label_link"]
    actions = ["schedule_pickup"]

    price = money_column("amount", description="Price", ordering="amount")

    @admin.display(description="Label")
    def label_link(self, obj: Shipment) -> str:
        if not obj.tracking_number or obj.status == ShipmentStatus.VOIDED:
            return "-"
        url = reverse("admin:shipping_shipment_label", args=[obj.pk])
        link = format_html(
            '<a href="{}" id="label-download">Download {}</a>',
            url,
            obj.label_format.upper(),
        )
        # A multi-parcel shipment: each parcel's own label, if it has one.
        parcels = [
            format_html(
                '<a href="{}?parcel={}" class="parcel-label">Parcel {} ({})</a>',
                url,
                parcel.sequence,
                parcel.sequence,
                parcel.tracking_number,
            )
            for parcel in obj.parcel_labels.exclude(label_data=b"").filter(
                voided_at__isnull=True
            )
        ]
        return format_html_join(" | ", "{}", ((item,) for item in [link, *parcels]))

    def get_timeline(self, obj: Shipment) -> list[TimelineEntry]:
        return timeline_sorted([*shipment_timeline(obj), *settle_entries(obj)])

    def change_page_context(
        self, request: HttpRequest, obj: Shipment
    ) -> dict[str, Any]:
        can = self.can_buy(request)
        bought = obj.status == ShipmentStatus.PURCHASED
        voidable = can and bought and not services.shipment_has_moved(shipment=obj)
        # A carrier with no void (DHL Express): no button, the reason instead.
        missing = shipment_void_missing(obj) if voidable else ""
        return {
            "void_url": self._url("void", obj) if voidable and not missing else "",
            "void_note": services.no_void_reason(missing) if missing else "",
            "reconcile_url": self._url("reconcile", obj)
            if can and obj.status == ShipmentStatus.UNKNOWN
            else "",
            "track_url": self._url("track", obj) if can and obj.is_trackable else "",
            "settle_url": self.settle_url(request, obj),
        }

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = {**(extra_context or {}), "can_compare": self.can_buy(request)}
        return super().changelist_view(request, context)

    def _url(self, operation: str, shipment: Shipment) -> str:
        return reverse(f"admin:shipping_shipment_{operation}", args=[shipment.pk])

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path(
                "compare-rates/",
                view(self.compare_view),
                name="shipping_shipment_compare",
            ),
            path("buy/", view(self.buy_view), name="shipping_shipment_buy"),
            *self.settle_urls(),
            path(
                "schedule-pickup/",
                view(self.schedule_pickup_view),
                name="shipping_shipment_schedule_pickup",
            ),
            path(
                "<path:object_id>/label/",
                view(self.label_view),
                name="shipping_shipment_label",
            ),
            *(
                path(
                    f"<path:object_id>/{operation}/",
                    view(self._operation_view(operation)),
                    name=f"shipping_shipment_{operation}",
                )
                for operation in _OPERATIONS
            ),
            *super().get_urls(),
        ]

    def _get_shipment(self, request: HttpRequest, object_id: str) -> Shipment:
        shipment = self.get_object(request, unquote(object_id))
        if shipment is None:
            raise Http404("No such shipment.")
        return shipment

    def label_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        # A label carries the customer's name and address: the page's own
        # permission, not only a staff login. A voided label is never served
        # (it could be printed and shipped on), as the API refuses it.
        shipment = self._get_shipment(request, object_id)
        if not self.has_view_permission(request, shipment):
            raise PermissionDenied
        data, name = shipment_label(shipment), shipment.public_id
        parcel = request.GET.get("parcel")
        if parcel is not None and shipment.status != ShipmentStatus.VOIDED:
            data, name = parcel_label(shipment, parcel), f"{name}-{parcel}"
        elif parcel is not None:
            data = None
        if data is None:
            raise Http404("No live label here: none was bought, or it was voided.")
        response = HttpResponse(
            data, content_type=_CONTENT_TYPES[shipment.label_format]
        )
        filename = f"{name}.{shipment.label_format}"
        response["Content-Disposition"] = f'inline; filename="{filename}"'
        return response

    def _operation_view(
        self, operation: str
    ) -> Callable[[HttpRequest, str], HttpResponse]:
        def view(request: HttpRequest, object_id: str) -> HttpResponse:
            if request.method != "POST":
                return HttpResponseNotAllowed(["POST"])
            if not self.can_buy(request):
                raise PermissionDenied
            shipment = self._get_shipment(request, object_id)
            try:
                _OPERATIONS[operation](shipment)
            except (services.ShippingError, ProviderError) as exc:
                # Staff read the carrier's own words the caller is not given.
                said = getattr(exc, "staff_detail", "")
                text = f"{exc} (the carrier said: {said})" if said else str(exc)
                self.message_user(
                    request, f"Could not {operation}: {text}", messages.ERROR
                )
            else:
                shipment.refresh_from_db()
                self._report(request, operation, shipment)
            return HttpResponseRedirect(
                reverse("admin:shipping_shipment_change", args=[shipment.pk])
            )

        return view

    def _report(self, request: HttpRequest, operation: str, shipment: Shipment) -> None:
        if operation == "reconcile" and shipment.status == ShipmentStatus.UNKNOWN:
            # Asked, and the carrier could not say: not a success.
            hint = " Settle it by hand." if self.settle_url(request, shipment) else ""
            text = "reconcile: inconclusive, the carrier could not say; still unknown"
            self.log_change(request, shipment, text)
            self.message_user(request, f"{text}.{hint}", messages.WARNING)
            return
        text = f"{operation}: now {shipment.get_status_display().lower()}"
        self.log_change(request, shipment, text)
        self.message_user(request, text, messages.SUCCESS)
