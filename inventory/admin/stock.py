"""Locations, stock levels and reservations. Stock figures are written only
by services (reservations, syncs): the stock page edits nothing but the low
threshold (saved through a service too), and reservations are read-only
with a release action."""

import re
from datetime import datetime

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import transaction
from django.db.models import OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce, Now
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from integrations.admin.readonly import ReadOnlyAdminMixin
from integrations.admin.search import PublicIdSearchMixin
from integrations.clock import database_now
from inventory import services
from inventory.admin.forwarding import (
    ForwardFilter,
    ReservationForwardAttemptInline,
    ReservationForwardInline,
    forward_summary,
)
from inventory.models import (
    Location,
    Reservation,
    ReservationLine,
    ReservationStatus,
    StockLevel,
)


class AwaitingFilter(admin.SimpleListFilter):
    """Locations an ERP named before staff set them up, still inactive."""

    title = "found in an ERP"
    parameter_name = "awaiting"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [("yes", "Awaiting review (inactive)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(discovered_at__isnull=False, active=False)
        return queryset


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "priority", "active", "review"]
    list_editable = ["priority", "active"]
    list_filter = [AwaitingFilter, "active"]
    search_fields = ["code", "name"]
    readonly_fields = ["discovered_at"]
    actions = ["enable_locations"]

    @admin.display(description="review")
    def review(self, location: Location) -> str:
        if location.discovered_at is None or location.active:
            return ""
        return "Found in the ERP: not sellable until enabled"

    @admin.action(
        description="Enable (stock there becomes sellable)", permissions=["change"]
    )
    def enable_locations(self, request: HttpRequest, queryset: QuerySet) -> None:
        ids = list(queryset.filter(active=False).values_list("pk", flat=True))
        for location_id in ids:
            services.location_active_set(location_id=location_id, active=True)
        self.message_user(request, f"Enabled {len(ids)} location(s).")

    def save_model(
        self, request: HttpRequest, obj: Location, form: forms.ModelForm, change: bool
    ) -> None:
        if not change:
            super().save_model(request, obj, form, change)  # no levels yet
            return
        # Only the columns staff changed: a whole-row save writes back what
        # this page read, e.g. ``active`` from before another's switch,
        # leaving the location and its levels' flag apart. ``active`` goes
        # through the service, which announces the switch (the list too).
        columns = {field.name for field in obj._meta.concrete_fields}
        changed = [name for name in form.changed_data if name in columns]
        if written := [name for name in changed if name != "active"]:
            obj.save(update_fields=written)
        if "active" in changed:
            obj.active = services.location_active_set(
                location_id=obj.pk, active=obj.active
            ).active

    def changelist_view(
        self, request: HttpRequest, extra_context: dict | None = None
    ) -> HttpResponse:
        # The list saves its changed rows in one transaction in the list's
        # order (priority): lock them all first in the order every writer
        # keeps (locations by id, then the levels of those switched by pk),
        # or a sync page or a checkout spanning two of them deadlocks it.
        saving = request.method == "POST" and "_save" in request.POST
        if not (saving and self.list_editable and self.has_change_permission(request)):
            return super().changelist_view(request, extra_context)
        with transaction.atomic():
            services.locations_lock(self._posted_active(request))
            return super().changelist_view(request, extra_context)

    def _posted_active(self, request: HttpRequest) -> dict[int, bool]:
        """The ``active`` posted for each row of the list, by location id,
        read as the list's own forms read it (rows of bad ids left out:
        their form fails)."""
        formset = self.get_changelist_formset(request)
        prefix = formset.get_default_prefix()
        checkbox = formset.form.base_fields["active"].widget
        row = re.compile(rf"{re.escape(prefix)}-(\d+)-id")
        posted = {}
        for key, value in request.POST.items():
            match = row.fullmatch(key)
            # Not an id a bigint holds: no row, the form reports it.
            if match is None or not re.fullmatch(r"[0-9]{1,18}", value):
                continue
            name = f"{prefix}-{match[1]}-active"
            posted[int(value)] = checkbox.value_from_datadict(
                request.POST, request.FILES, name
            )
        return posted


class ReservedFilter(admin.SimpleListFilter):
    title = "reserved"
    parameter_name = "reserved"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [("yes", "Has reservations"), ("no", "Nothing reserved")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(reserved__gt=0)
        if self.value() == "no":
            return queryset.filter(reserved=0)
        return queryset


@admin.register(StockLevel)
class StockLevelAdmin(admin.ModelAdmin):
    list_display = [
        "sku",
        "location",
        "on_hand",
        "reserved_now",
        "available",
        "state",
        "oversold",
        "synced_at",
    ]
    # The state filter is the available / low-stock / out / oversold filter.
    list_filter = ["state", ReservedFilter, "location", "source"]
    search_fields = ["sku"]
    list_select_related = ["location", "source"]
    fields = [
        "sku",
        "location",
        "on_hand",
        "reserved_now",
        "available",
        "state",
        "oversold",
        "low_threshold",
        "source",
        "sold_not_in_erp",
        "erp_modified_at",
        "synced_at",
    ]
    readonly_fields = [f for f in fields if f != "low_threshold"]
    actions = ["draft_purchase_orders", "erp_figure_stands"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: StockLevel, form: forms.ModelForm, change: bool
    ) -> None:
        # The threshold alone, through the service: the row this page read
        # may be stale by now (a reservation landed), and its state moves.
        services.stock_level_threshold_set(
            level_id=obj.pk, low_threshold=obj.low_threshold
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[StockLevel]:
        # Expired reservations stop counting at read time, here as in the API.
        expired = (
            ReservationLine.objects.filter(
                stock_level=OuterRef("pk"),
                reservation__status=ReservationStatus.ACTIVE,
                reservation__expires_at__lte=Now(),
            )
            .values("stock_level")
            .annotate(units=Sum("quantity"))
            .values("units")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(expired_units=Coalesce(Subquery(expired), 0))
        )

    @admin.display(description="reserved")
    def reserved_now(self, level: StockLevel) -> int:
        return level.reserved - getattr(level, "expired_units", 0)

    @admin.display(description="available")
    def available(self, level: StockLevel) -> int:
        return services.available_units(level.on_hand, self.reserved_now(level))

    @admin.display(description="oversold by")
    def oversold(self, level: StockLevel) -> int | str:
        return services.oversold_units(level.on_hand, self.reserved_now(level)) or "-"

    @admin.display(description="sold here, not yet in the ERP's figure")
    def sold_not_in_erp(self, level: StockLevel) -> str:
        """Units held off the ERP's figure: awaiting a confirm forward, or
        (an ERP told nothing) a figure that falls by them; a receipt read
        with their booking strands them (docs/inventory.md)."""
        parts = []
        if level.sold_unsent:
            parts.append(f"{level.sold_unsent} awaiting the confirm sent to the ERP")
        if level.sold_unseen:
            since = level.sold_unseen_at
            shown = timezone.localtime(since).isoformat(timespec="minutes")
            parts.append(f"{level.sold_unseen} (since {shown if since else '?'})")
        return "; ".join(parts) or "-"

    @admin.action(
        description="The ERP's figure shows the units sold here (checked at the ERP)",
        permissions=["change"],
    )
    def erp_figure_stands(
        self, request: HttpRequest, queryset: QuerySet[StockLevel]
    ) -> HttpResponse | None:
        """First shows what would be given back; confirmed, gives back at
        most that, on levels sold no more since (services), and records
        it in each level's history."""
        levels = [level for level in queryset.order_by("pk") if level.sold_unseen > 0]
        if not levels:
            self.message_user(
                request,
                "None of the selected levels holds units sold here awaiting "
                "the ERP's figure: nothing to give back.",
                messages.WARNING,
            )
            return None
        if "confirm" not in request.POST:
            context = {
                **self.admin_site.each_context(request),
                "title": "The ERP's figure shows the units sold here",
                "opts": self.opts,
                "levels": levels,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, ERP_FIGURE_TEMPLATE, context)
        given = services.stock_levels_erp_figure_stands(
            seen=_units_shown(request, levels)
        )
        for level, units in given:
            self.log_change(
                request,
                level,
                f"The ERP's figure shows the units sold here: {units} unit(s) "
                "given back",
            )
        total = sum(units for _, units in given)
        left = len(levels) - len(given)
        self.message_user(
            request,
            f"{total} unit(s) given back on {len(given)} level(s)."
            + (
                f" {left} level(s) sold more since the page was shown (or were "
                "given back already): check the ERP's figure again."
                if left
                else ""
            ),
            messages.WARNING if left else messages.SUCCESS,
        )
        return None

    @admin.action(
        description="Create draft purchase orders (below reorder point)",
        permissions=["change"],
    )
    def draft_purchase_orders(
        self, request: HttpRequest, queryset: QuerySet[StockLevel]
    ) -> None:
        skus = set(queryset.values_list("sku", flat=True))
        orders = services.purchase_orders_draft(skus=skus)
        if not orders:
            self.message_user(
                request,
                "No draft purchase order: the SKUs are above their reorder point, "
                "have none, or an open order covers them.",
                messages.WARNING,
            )
            return
        names = ", ".join(order.public_id for order in orders)
        self.message_user(request, f"Drafted {len(orders)} purchase order(s): {names}")


class ReservationLineInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ReservationLine
    fields = ["sku", "location", "quantity"]
    extra = 0


class ReservationStatusFilter(admin.SimpleListFilter):
    """The status the list shows: a hold whose time is up (by the database's
    clock, as the list reads it) is expired, not active, before the sweep
    marks it so."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return list(ReservationStatus.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        active = ReservationStatus.ACTIVE
        if self.value() == active:
            return queryset.filter(status=active, expires_at__gt=Now())
        if self.value() == ReservationStatus.EXPIRED:
            return queryset.filter(
                Q(status=ReservationStatus.EXPIRED)
                | Q(status=active, expires_at__lte=Now())
            )
        if self.value() in ReservationStatus.values:
            return queryset.filter(status=self.value())
        return queryset


@admin.register(Reservation)
class ReservationAdmin(PublicIdSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "public_id",
        "order_id",
        "effective_status",
        "time_left",
        "expires_at",
        "erp",
        "created_at",
    ]
    list_filter = [ReservationStatusFilter, ForwardFilter]
    search_fields = ["public_id", "order_id", "lines__sku"]
    inlines = [
        ReservationLineInline,
        ReservationForwardInline,
        ReservationForwardAttemptInline,
    ]
    actions = ["release", "retry_forwards"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Reservation]:
        # Status and time left by the database's clock, which expires_at is
        # stamped and swept by, not this web process's.
        rows = super().get_queryset(request).annotate(read_at=Now())
        return rows.prefetch_related("forwards")

    def has_release_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("inventory.change_reservation")

    @admin.display(description="status")
    def effective_status(self, reservation: Reservation) -> str:
        expired = reservation.is_expired(_read_at(reservation))
        return "expired" if expired else reservation.status

    @admin.display(description="ERP")
    def erp(self, reservation: Reservation) -> str:
        return forward_summary(reservation)

    @admin.display(description="time left")
    def time_left(self, reservation: Reservation) -> str:
        if reservation.status != "active":
            return "-"
        left = int((reservation.expires_at - _read_at(reservation)).total_seconds())
        if left <= 0:
            return "expired"
        return f"{left // 60}m {left % 60:02d}s"

    @admin.action(description="Release selected reservations", permissions=["release"])
    def release(self, request: HttpRequest, queryset: QuerySet[Reservation]) -> None:
        released = 0
        for reservation in queryset:
            try:
                services.reservation_release(reservation=reservation)
            except services.InventoryError as error:
                self.message_user(
                    request, f"{reservation.public_id}: {error.message}", messages.ERROR
                )
                continue
            released += 1
        if released:
            self.message_user(request, f"Released {released} reservation(s).")

    @admin.action(description="Send failed ERP forwards again", permissions=["release"])
    def retry_forwards(
        self, request: HttpRequest, queryset: QuerySet[Reservation]
    ) -> None:
        count = services.hold_forwards_retry(reservations=queryset)
        if not count:
            self.message_user(
                request, "No failed ERP forward among them.", messages.WARNING
            )
            return
        self.message_user(request, f"Sending {count} ERP forward(s) again.")


def _read_at(reservation: Reservation) -> datetime:
    """The database's time when the row was read (``read_at``); a row from
    elsewhere (no annotation): now, by the database's clock."""
    return getattr(reservation, "read_at", None) or database_now()


ERP_FIGURE_TEMPLATE = "admin/inventory/stocklevel/erp_figure_stands.html"


def _units_shown(
    request: HttpRequest, levels: list[StockLevel]
) -> dict[int, tuple[int, datetime | None]]:
    """What the confirmation page showed per level (units, last sale: ""
    for a level stored without one); a level whose figures do not read is
    given nothing."""
    shown: dict[int, tuple[int, datetime | None]] = {}
    for level in levels:
        units = request.POST.get(f"units_{level.pk}", "")
        since = request.POST.get(f"since_{level.pk}")
        try:
            at = parse_datetime(since) if since else None
        except ValueError:
            continue
        if since is None or (since and at is None):
            continue
        if units.isascii() and units.isdigit():
            shown[level.pk] = (int(units), at)
    return shown
