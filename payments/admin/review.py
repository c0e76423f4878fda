"""The fraud review queue: medium-risk payments held for staff to approve
(capture, when the storefront asked for a capture) or reject (void)."""

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.safestring import SafeString

from integrations.admin.display import money_column
from integrations.admin.readonly import ReadOnlyAdminMixin
from integrations.admin.search import PublicIdSearchMixin
from payments.admin.common import SERVICE_ERRORS, actor, payment_link
from payments.models import (
    Payment,
    PaymentReview,
    PaymentStatus,
    ReviewReason,
    ReviewState,
)
from payments.selectors import payments_selected
from payments.services import payment_review_approve, payment_review_reject


@admin.register(PaymentReview)
class PaymentReviewAdmin(PublicIdSearchMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "payment_link",
        "order_id",
        "amount_display",
        "customer_email",
        "review_reason",
        "risk_score",
        "risk_level",
        "reasons",
        "status",
        "created_at",
    ]
    list_display_links = None
    list_filter = ["review_reason", "currency", "risk_level"]
    search_fields = ["=public_id", "order_id", "customer_email"]
    actions = ["approve", "reject"]

    def has_review_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payments.change_payment")

    def has_view_permission(
        self, request: HttpRequest, obj: PaymentReview | None = None
    ) -> bool:
        return request.user.has_perm(
            "payments.view_payment"
        ) or self.has_review_permission(request)

    @admin.display(description="Payment", ordering="public_id")
    def payment_link(self, obj: PaymentReview) -> SafeString:
        return payment_link(obj)

    amount_display = money_column("amount", description="Amount", ordering="amount")

    @admin.display(description="Reasons")
    def reasons(self, obj: PaymentReview) -> str:
        return ", ".join(obj.risk_reasons)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # One payment page, with its timeline: the queue only lists.
        url = reverse("admin:payments_payment_change", args=[unquote(object_id)])
        return HttpResponseRedirect(url)

    @admin.action(
        description="Approve (a fraud hold: capture if asked; acknowledge others)",
        permissions=["review"],
    )
    def approve(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._review(request, queryset, payment_review_approve, "approve", "Approved")

    @admin.action(description="Reject (void) selected", permissions=["review"])
    def reject(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._review(request, queryset, payment_review_reject, "reject", "Rejected")

    def _review(
        self,
        request: HttpRequest,
        queryset: QuerySet,
        service: Callable[..., Payment],
        verb: str,
        done: str,
    ) -> None:
        for payment in payments_selected(queryset):
            try:
                payment = service(payment=payment, actor=actor(request))
            except SERVICE_ERRORS as exc:
                self.message_user(
                    request,
                    f"{payment.public_id}: could not {verb}: {exc}",
                    messages.ERROR,
                )
                continue
            level, text = _outcome(payment, done)
            self.log_change(request, payment, text)
            self.message_user(request, f"{payment.public_id}: {text}", level)


def _outcome(payment: Payment, done: str) -> tuple[int, str]:
    """What staff's decision came to. Still in review only when the service's
    gateway call (a fraud hold's capture or void) did not settle it; an
    acknowledgement (no call) leaves the queue, the payment ``unknown`` or not."""
    if payment.review_state != ReviewState.PENDING:
        where = "fraud review"
        if payment.review_reason != ReviewReason.FRAUD:
            where = f"review ({payment.review_reason})"
        return messages.SUCCESS, f"{done} in {where}: now {payment.status}."
    if payment.status == PaymentStatus.UNKNOWN:
        return messages.WARNING, (
            f"Not {done.lower()} yet: the gateway's answer was lost; "
            "outcome unknown, being reconciled (still in review)."
        )
    return messages.WARNING, (
        f"Not {done.lower()} yet: now {payment.status} (still in review)."
    )
