"""Holds forwarded to ERPs, as staff see them on a reservation: each
forward's status and last error, every call made for it, a filter for the
reservations whose forward failed, and the parts of the retry action."""

from django.contrib import admin
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest

from integrations.admin.readonly import ReadOnlyAdminMixin
from inventory.models import (
    ForwardStatus,
    Reservation,
    ReservationForward,
    ReservationForwardAttempt,
)

FAILING = (ForwardStatus.FAILED, ForwardStatus.DEAD)
OPEN = (ForwardStatus.PENDING, ForwardStatus.SENDING)


class ReservationForwardInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ReservationForward
    verbose_name = "ERP forward"
    verbose_name_plural = "Forwarded to the ERP"
    fields = [
        "operation",
        "account",
        "status",
        "attempts",
        "last_error",
        "next_attempt_at",
        "external_reference",
        "finished_at",
    ]
    readonly_fields = fields
    extra = 0


class ReservationForwardAttemptInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ReservationForwardAttempt
    verbose_name = "ERP call"
    verbose_name_plural = "Calls to the ERP"
    fields = [
        "operation",
        "account",
        "outcome",
        "error_code",
        "error_message",
        "idempotency_key",
        "duration_ms",
        "created_at",
    ]
    readonly_fields = fields
    extra = 0


class ForwardFilter(admin.SimpleListFilter):
    title = "ERP forward"
    parameter_name = "erp"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [
            ("failing", "Failing or given up"),
            ("open", "Not yet sent"),
            ("none", "Not forwarded"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value in ("failing", "open"):
            wanted = FAILING if value == "failing" else OPEN
            rows = ReservationForward.objects.filter(
                reservation=OuterRef("pk"), status__in=wanted
            )
            return queryset.filter(Exists(rows))
        if value == "none":
            return queryset.filter(forwards__isnull=True)
        return queryset


def forward_summary(reservation: Reservation) -> str:
    """One word per forward for the list: ``reserve: done, release: failed``."""
    forwards = list(reservation.forwards.all())
    if not forwards:
        return "-"
    return ", ".join(f"{x.operation}: {x.status}" for x in forwards)


__all__ = [
    "ForwardFilter",
    "ReservationForwardAttemptInline",
    "ReservationForwardInline",
    "forward_summary",
]
