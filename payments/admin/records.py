"""Refunds, saved methods and recurring charges: read-only lists, each row
linked to the payment or customer it belongs to; staff's actions (cancel a
waiting refund; pause, resume, cancel a recurring charge, move it to the
customer's default method) go through the services and are recorded in the
admin log."""

from collections.abc import Callable

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.safestring import SafeString

from integrations.admin.display import money_column
from integrations.admin.readonly import ReadOnlyAdminMixin
from integrations.admin.search import PublicIdSearchMixin
from payments.admin.common import SERVICE_ERRORS, actor, payment_link
from payments.models import (
    RecurringCharge,
    RecurringStatus,
    Refund,
    SavedPaymentMethod,
)
from payments.services import refund_cancel
from payments.services.recurring_manage import (
    recurring_cancel,
    recurring_default_method_move,
    recurring_pause,
    recurring_resume,
)


@admin.register(Refund)
class RefundAdmin(PublicIdSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "public_id",
        "payment_link",
        "amount_display",
        "status",
        "failure_code",
        "next_attempt_at",
        "reason",
        "requested_by",
        "created_at",
    ]
    list_filter = ["status", "currency", "created_at"]
    actions = ["cancel"]
    search_fields = [
        "=public_id",
        "=payment__public_id",
        "payment__order_id",
        "provider_reference",
    ]
    list_select_related = ["payment"]
    date_hierarchy = "created_at"

    @admin.display(description="Payment", ordering="payment__public_id")
    def payment_link(self, obj: Refund) -> SafeString:
        return payment_link(obj.payment)

    amount_display = money_column("amount", description="Amount", ordering="amount")

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payments.refund_payment")

    @admin.action(
        description="Cancel selected refunds waiting for a gateway",
        permissions=["refund"],
    )
    def cancel(self, request: HttpRequest, queryset: QuerySet[Refund]) -> None:
        for refund in queryset:
            try:
                refund_cancel(refund=refund, actor=actor(request))
            except SERVICE_ERRORS as exc:
                self.message_user(request, f"{refund.public_id}: {exc}", messages.ERROR)
                continue
            self.log_change(request, refund, "Cancelled (never reached the gateway).")
            self.message_user(
                request, f"{refund.public_id}: cancelled.", messages.SUCCESS
            )


@admin.register(SavedPaymentMethod)
class SavedPaymentMethodAdmin(
    PublicIdSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin
):
    list_display = [
        "public_id",
        "customer_reference",
        "account",
        "card_brand",
        "card_last4",
        "expiry",
        "is_default",
        "created_at",
    ]
    list_filter = ["account", "card_brand", "is_default"]
    # Staff find every method of a card or e-mail they are about to
    # blocklist (both are shown, read-only, on the method's page).
    search_fields = [
        "=public_id",
        "customer_reference",
        "=card_fingerprint",
        "customer_email",
    ]
    list_select_related = ["account"]

    @admin.display(description="Expiry")
    def expiry(self, obj: SavedPaymentMethod) -> str:
        if obj.exp_month is None or obj.exp_year is None:
            return "-"
        return f"{obj.exp_month:02d}/{obj.exp_year}"


@admin.register(RecurringCharge)
class RecurringChargeAdmin(PublicIdSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "public_id",
        "customer",
        "amount_display",
        "interval",
        "interval_count",
        "next_run_at",
        "status",
        "runs",
    ]
    list_filter = ["status", "interval", "currency"]
    search_fields = ["=public_id", "saved_method__customer_reference"]
    list_select_related = ["saved_method"]
    actions = ["pause", "resume", "move_to_default_method", "cancel"]

    @admin.display(description="Customer")
    def customer(self, obj: RecurringCharge) -> str:
        return obj.saved_method.customer_reference

    amount_display = money_column("amount", description="Amount", ordering="amount")

    def has_manage_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payments.manage_recurringcharge")

    @admin.action(
        description="Pause selected recurring charges", permissions=["manage"]
    )
    def pause(self, request: HttpRequest, queryset: QuerySet[RecurringCharge]) -> None:
        self._change(request, queryset, recurring_pause, "Paused.")

    @admin.action(
        description="Resume selected paused or failed recurring charges (a failed "
        "one, or a passed date: charged now)",
        permissions=["manage"],
    )
    def resume(self, request: HttpRequest, queryset: QuerySet[RecurringCharge]) -> None:
        self._change(request, queryset, recurring_resume, "Resumed.")

    @admin.action(
        description="Move selected recurring charges to the customer's default "
        "saved method (a failed one resumes)",
        permissions=["manage"],
    )
    def move_to_default_method(
        self, request: HttpRequest, queryset: QuerySet[RecurringCharge]
    ) -> None:
        self._change(
            request,
            queryset.select_related("saved_method"),
            recurring_default_method_move,
            lambda row: f"Moved to {row.saved_method.public_id}.",
        )

    @admin.action(
        description="Cancel selected recurring charges for good", permissions=["manage"]
    )
    def cancel(self, request: HttpRequest, queryset: QuerySet[RecurringCharge]) -> None:
        self._change(request, queryset, recurring_cancel, "Cancelled.")

    def _change(
        self,
        request: HttpRequest,
        queryset: QuerySet[RecurringCharge],
        service: Callable[..., RecurringCharge],
        done: str | Callable[[RecurringCharge], str],
    ) -> None:
        """``service`` on each selected charge; each refusal shown, the rest done."""
        for recurring in queryset:
            try:
                row = service(recurring=recurring, actor=actor(request))
            except SERVICE_ERRORS as exc:
                self.message_user(
                    request, f"{recurring.public_id}: {exc}", messages.ERROR
                )
                continue
            note = done(row) if callable(done) else done
            if row.status == RecurringStatus.ACTIVE:
                note += f" Next run {row.next_run_at:%Y-%m-%d %H:%M} UTC."
            self.log_change(request, row, note)
            self.message_user(
                request, f"{recurring.public_id}: {note}", messages.SUCCESS
            )
