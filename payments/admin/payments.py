"""The payment list and the payment page (read-only fields, timeline, and
buttons for what staff may do now; the operations are in ``operations``)."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from integrations.admin.display import money_column, money_display
from integrations.admin.readonly import ReadOnlyAdminMixin
from integrations.admin.search import PublicIdSearchMixin
from integrations.admin.timeline import TimelineAdminMixin
from integrations.timeline import TimelineEntry
from payments.admin.operations import PaymentOperationsMixin
from payments.admin.settle import PaymentSettleMixin
from payments.models import Payment
from payments.selectors import payment_timeline
from payments.services import payment_refundable


class ProviderFilter(admin.AllValuesFieldListFilter):
    title = "provider"


MONEY_FIELDS = [
    "amount_display",
    "authorized_display",
    "captured_display",
    "refunded_display",
    "refundable_display",
]


@admin.register(Payment)
class PaymentAdmin(
    PublicIdSearchMixin,
    PaymentSettleMixin,
    PaymentOperationsMixin,
    TimelineAdminMixin,
    ReadOnlyAdminMixin,
    admin.ModelAdmin,
):
    change_form_template = "admin/payments/payment/change_form.html"
    list_display = [
        "public_id",
        "order_id",
        "status",
        "amount_display",
        "captured_display",
        "refunded_display",
        "provider",
        "customer_email",
        "risk_level",
        "review_state",
        "created_at",
    ]
    list_filter = [
        "status",
        ("account__provider", ProviderFilter),
        "currency",
        "created_at",
        "risk_level",
        "review_state",
    ]
    search_fields = ["=public_id", "order_id", "provider_reference", "customer_email"]
    list_select_related = ["account"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ["capture", "void", "refund", "reconcile"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "public_id",
                    "order_id",
                    "status",
                    "review_state",
                    "dispute_status",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
        ("Money", {"fields": MONEY_FIELDS}),
        (
            "Customer",
            {"fields": ["customer_reference", "customer_email", "ip_address"]},
        ),
        (
            "Gateway",
            {
                "fields": [
                    "account",
                    "provider_reference",
                    "card_brand",
                    "card_last4",
                    "wallet",
                    "failure_code",
                    "failure_message",
                    "failure_provider_code",
                    "failure_advice_code",
                    "failure_learnt_at",
                ]
            },
        ),
        ("Risk", {"fields": ["risk_score", "risk_level", "risk_reasons_display"]}),
        ("Metadata", {"fields": ["metadata"], "classes": ["collapse"]}),
    ]
    readonly_fields = [*MONEY_FIELDS, "risk_reasons_display"]

    def has_view_permission(
        self, request: HttpRequest, obj: Payment | None = None
    ) -> bool:
        return request.user.has_perm("payments.view_payment") or self.can_operate(
            request
        )

    # --- columns

    amount_display = money_column("amount", description="Amount", ordering="amount")
    authorized_display = money_column("amount_authorized", description="Authorized")
    captured_display = money_column("amount_captured", description="Captured")
    refunded_display = money_column("amount_refunded", description="Refunded")

    @admin.display(description="Refundable")
    def refundable_display(self, obj: Payment) -> str:
        return money_display(payment_refundable(payment=obj), obj.currency)

    @admin.display(description="Provider", ordering="account__provider")
    def provider(self, obj: Payment) -> str:
        return obj.account.provider if obj.account else "-"

    @admin.display(description="Risk reasons")
    def risk_reasons_display(self, obj: Payment) -> str:
        return ", ".join(obj.risk_reasons) or "-"

    # --- the change page: timeline and buttons

    def get_timeline(self, obj: Payment) -> list[TimelineEntry]:
        return payment_timeline(obj)

    def change_page_context(self, request: HttpRequest, obj: Payment) -> dict[str, Any]:
        return {
            **self.operations_context(request, obj),
            "settle_url": self.settle_url(request, obj),
        }
