"""Payments in the back office.

Money fields are read-only everywhere: every change goes through a service in
``payments.services`` (capture, void, refund, reconcile, review), each action
calls one, and each success is written to the admin log. A refusal (the
provider declines, the amount is above what is left) is shown as an error
message, never a server error.
"""

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from integrations.errors import ProviderError
from integrations.models import Event, WebhookEvent
from integrations.money import (
    MoneyError,
    format_amount,
    from_decimal_string,
    to_decimal_string,
)
from payments.models import (
    AmountThreshold,
    BlocklistEntry,
    Payment,
    PaymentReview,
    PaymentStatus,
    RecurringCharge,
    Refund,
    RefundStatus,
    SavedPaymentMethod,
)
from payments.services import (
    PaymentError,
    payment_capture,
    payment_reconcile,
    payment_refund,
    payment_refundable,
    payment_review_approve,
    payment_review_reject,
    payment_void,
)

# What a service may raise for a request it refuses; anything else is a bug
# and should surface as one.
SERVICE_ERRORS = (PaymentError, ProviderError, MoneyError)
TIMELINE_LIMIT = 50


def money(amount: int | None, currency: str) -> str:
    if amount is None:
        return "-"
    try:
        return format_amount(amount, currency)
    except MoneyError:
        return f"{amount} {currency}"


def _payment_link(payment: Payment) -> SafeString:
    url = reverse("admin:payments_payment_change", args=[payment.pk])
    return format_html('<a href="{}">{}</a>', url, payment.public_id)


class _ReadOnly:
    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


# --- the payment page's timeline ---------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # created, attempt, refund, webhook, event
    title: str
    detail: str = ""
    url: str = ""


def payment_timeline(payment: Payment) -> list[TimelineEntry]:
    """Everything that happened to ``payment``, oldest first."""
    entries = [
        TimelineEntry(
            at=payment.created_at,
            kind="created",
            title="Payment created",
            detail=f"{money(payment.amount, payment.currency)} for order "
            f"{payment.order_id}",
        ),
        *_attempt_entries(payment),
        *_refund_entries(payment),
        *_webhook_entries(payment),
        *_event_entries(payment),
    ]
    return sorted(entries, key=lambda entry: entry.at)


def _attempt_entries(payment: Payment) -> list[TimelineEntry]:
    attempts = payment.attempts.select_related("account")[:TIMELINE_LIMIT]
    entries = []
    for attempt in attempts:
        error = ": ".join(x for x in (attempt.error_code, attempt.error_message) if x)
        took = f"{attempt.duration_ms} ms" if attempt.duration_ms is not None else ""
        entries.append(
            TimelineEntry(
                at=attempt.created_at,
                kind="attempt",
                title=f"{attempt.operation} at {attempt.account.display_name}: "
                f"{attempt.get_outcome_display()}",
                detail=" · ".join(x for x in (error, took) if x),
            )
        )
    return entries


def _refund_entries(payment: Payment) -> list[TimelineEntry]:
    entries = []
    for refund in payment.refunds.all()[:TIMELINE_LIMIT]:
        who = f"by {refund.requested_by}" if refund.requested_by else ""
        failure = refund.failure_message or refund.failure_code
        entries.append(
            TimelineEntry(
                at=refund.created_at,
                kind="refund",
                title=f"Refund {money(refund.amount, refund.currency)}: "
                f"{refund.get_status_display()}",
                detail=" · ".join(x for x in (refund.reason, who, failure) if x),
                url=reverse("admin:payments_refund_change", args=[refund.pk]),
            )
        )
    return entries


def _webhook_entries(payment: Payment) -> list[TimelineEntry]:
    if not payment.provider_reference or payment.account_id is None:
        return []
    # The provider's id for the payment appears somewhere in its webhooks'
    # payloads; where depends on the provider, so search the text.
    webhooks = (
        WebhookEvent.objects.filter(account_id=payment.account_id)
        .annotate(payload_text=Cast("payload", output_field=TextField()))
        .filter(payload_text__contains=payment.provider_reference)
        .order_by("-received_at")[:TIMELINE_LIMIT]
    )
    return [
        TimelineEntry(
            at=webhook.occurred_at or webhook.received_at,
            kind="webhook",
            title=f"Webhook {webhook.event_type}: {webhook.get_status_display()}",
            detail=webhook.note or webhook.last_error[:200],
            url=reverse("admin:integrations_webhookevent_change", args=[webhook.pk]),
        )
        for webhook in webhooks
    ]


def _event_entries(payment: Payment) -> list[TimelineEntry]:
    events = Event.objects.filter(
        subject__in=[payment.public_id, f"payment:{payment.public_id}"]
    ).order_by("-created_at")[:TIMELINE_LIMIT]
    return [
        TimelineEntry(
            at=event.created_at,
            kind="event",
            title=f"Event {event.name}",
            url=reverse("admin:integrations_event_change", args=[event.pk]),
        )
        for event in events
    ]


# --- the refund form ---------------------------------------------------------


class RefundForm(forms.Form):
    amount = forms.CharField(max_length=32)
    reason = forms.CharField(max_length=255)
    confirm = forms.BooleanField(
        label="I confirm: send this refund to the customer now.",
        error_messages={"required": "Tick the box to confirm the refund."},
    )
    # One key per form shown: a double submit is one refund, not two.
    token = forms.RegexField(regex=r"^[0-9a-f]{32}$", widget=forms.HiddenInput)

    def __init__(self, *args: Any, payment: Payment, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.payment = payment
        # Refunds still in flight are already spoken for.
        self.refundable = payment_refundable(payment=payment)
        currency = payment.currency
        remainder = to_decimal_string(self.refundable, currency)
        self.fields["amount"].label = f"Amount ({currency})"
        self.fields["amount"].initial = remainder
        self.fields["amount"].help_text = (
            f"In {currency} (e.g. {remainder}); at most "
            f"{money(self.refundable, currency)} is left to refund."
        )
        self.fields["token"].initial = secrets.token_hex(16)

    def clean_amount(self) -> int:
        currency = self.payment.currency
        try:
            amount = from_decimal_string(self.cleaned_data["amount"], currency)
        except MoneyError as exc:
            raise forms.ValidationError(
                f"Enter an amount in {currency}: {exc}."
            ) from exc
        if amount <= 0:
            raise forms.ValidationError("Enter an amount above zero.")
        if amount > self.refundable:
            raise forms.ValidationError(
                f"At most {money(self.refundable, currency)} can be refunded "
                "on this payment."
            )
        return amount

    @property
    def idempotency_key(self) -> str:
        return f"admin-refund:{self.payment.public_id}:{self.cleaned_data['token']}"


# --- payments ----------------------------------------------------------------


class ProviderFilter(admin.AllValuesFieldListFilter):
    title = "provider"


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
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
        (
            "Money",
            {
                "fields": [
                    "amount_display",
                    "authorized_display",
                    "captured_display",
                    "refunded_display",
                    "refundable_display",
                ]
            },
        ),
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
                ]
            },
        ),
        ("Risk", {"fields": ["risk_score", "risk_level", "risk_reasons_display"]}),
        ("Metadata", {"fields": ["metadata"], "classes": ["collapse"]}),
    ]
    readonly_fields = [
        "amount_display",
        "authorized_display",
        "captured_display",
        "refunded_display",
        "refundable_display",
        "risk_reasons_display",
    ]

    # Read-only: a saved change form would write stale amounts over what a
    # service or webhook set meanwhile.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: Payment | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: Payment | None = None
    ) -> bool:
        return False

    def has_view_permission(
        self, request: HttpRequest, obj: Payment | None = None
    ) -> bool:
        return request.user.has_perm("payments.view_payment") or self._can_operate(
            request
        )

    def _can_operate(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payments.change_payment")

    has_capture_permission = _can_operate
    has_void_permission = _can_operate
    has_reconcile_permission = _can_operate

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payments.refund_payment")

    # --- columns

    @admin.display(description="Amount", ordering="amount")
    def amount_display(self, obj: Payment) -> str:
        return money(obj.amount, obj.currency)

    @admin.display(description="Authorized")
    def authorized_display(self, obj: Payment) -> str:
        return money(obj.amount_authorized, obj.currency)

    @admin.display(description="Captured")
    def captured_display(self, obj: Payment) -> str:
        return money(obj.amount_captured, obj.currency)

    @admin.display(description="Refunded")
    def refunded_display(self, obj: Payment) -> str:
        return money(obj.amount_refunded, obj.currency)

    @admin.display(description="Refundable")
    def refundable_display(self, obj: Payment) -> str:
        return money(payment_refundable(payment=obj), obj.currency)

    @admin.display(description="Provider", ordering="account__provider")
    def provider(self, obj: Payment) -> str:
        return obj.account.provider if obj.account else "-"

    @admin.display(description="Risk reasons")
    def risk_reasons_display(self, obj: Payment) -> str:
        return ", ".join(obj.risk_reasons) or "-"

    # --- list actions: each calls one service per payment

    @admin.action(description="Capture selected payments", permissions=["capture"])
    def capture(self, request: HttpRequest, queryset: QuerySet[Payment]) -> None:
        for payment in queryset:
            self._capture(request, payment)

    @admin.action(description="Void selected payments", permissions=["void"])
    def void(self, request: HttpRequest, queryset: QuerySet[Payment]) -> None:
        for payment in queryset:
            self._void(request, payment)

    @admin.action(description="Reconcile selected payments", permissions=["reconcile"])
    def reconcile(self, request: HttpRequest, queryset: QuerySet[Payment]) -> None:
        for payment in queryset:
            self._reconcile(request, payment)

    @admin.action(description="Refund selected payment…", permissions=["refund"])
    def refund(
        self, request: HttpRequest, queryset: QuerySet[Payment]
    ) -> HttpResponse | None:
        payments = list(queryset[:2])
        if len(payments) != 1:
            self.message_user(
                request, "Refund one payment at a time.", messages.WARNING
            )
            return None
        return HttpResponseRedirect(self._url("refund", payments[0]))

    def _capture(self, request: HttpRequest, payment: Payment) -> None:
        try:
            payment = payment_capture(payment=payment, actor=_actor(request))
        except SERVICE_ERRORS as exc:
            self._refused(request, payment, "capture", exc)
            return
        done = f"Captured {money(payment.amount_captured, payment.currency)}."
        self.log_change(request, payment, done)
        self.message_user(request, f"{payment.public_id}: {done}", messages.SUCCESS)

    def _void(self, request: HttpRequest, payment: Payment) -> None:
        try:
            payment = payment_void(payment=payment, actor=_actor(request))
        except SERVICE_ERRORS as exc:
            self._refused(request, payment, "void", exc)
            return
        self.log_change(request, payment, "Voided.")
        self.message_user(request, f"{payment.public_id}: voided.", messages.SUCCESS)

    def _reconcile(self, request: HttpRequest, payment: Payment) -> None:
        before = payment.status
        try:
            payment = payment_reconcile(payment=payment)
        except SERVICE_ERRORS as exc:
            self._refused(request, payment, "reconcile", exc)
            return
        if payment.status == before:
            text = f"Reconciled: still {payment.get_status_display().lower()}."
        else:
            text = f"Reconciled: {before} → {payment.status}."
        self.log_change(request, payment, text)
        self.message_user(request, f"{payment.public_id}: {text}", messages.SUCCESS)

    def _refused(
        self, request: HttpRequest, payment: Payment, verb: str, exc: Exception
    ) -> None:
        self.message_user(
            request, f"{payment.public_id}: could not {verb}: {exc}", messages.ERROR
        )

    # --- the change page: timeline and buttons

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        payment = self.get_object(request, unquote(object_id))
        context = dict(extra_context or {})
        if payment is not None:
            context.update(self._operations_context(request, payment))
            context["timeline"] = payment_timeline(payment)
        return super().change_view(request, object_id, form_url, context)

    def _operations_context(
        self, request: HttpRequest, payment: Payment
    ) -> dict[str, Any]:
        can_operate = self._can_operate(request)
        return {
            "capture_url": self._url("capture", payment)
            if can_operate and payment.capturable
            else "",
            "void_url": self._url("void", payment)
            if can_operate and payment.status == PaymentStatus.AUTHORIZED
            else "",
            "refund_url": self._url("refund", payment)
            if self.has_refund_permission(request)
            and payment_refundable(payment=payment) > 0
            else "",
            "reconcile_url": self._url("reconcile", payment) if can_operate else "",
        }

    def _url(self, operation: str, payment: Payment) -> str:
        return reverse(f"admin:payments_payment_{operation}", args=[payment.pk])

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/refund/",
                view(self.refund_view),
                name="payments_payment_refund",
            ),
            *(
                path(
                    f"<path:object_id>/{operation}/",
                    view(self._operation_view(operation)),
                    name=f"payments_payment_{operation}",
                )
                for operation in ("capture", "void", "reconcile")
            ),
            *super().get_urls(),
        ]

    def _operation_view(
        self, operation: str
    ) -> Callable[[HttpRequest, str], HttpResponse]:
        def view(request: HttpRequest, object_id: str) -> HttpResponse:
            if request.method != "POST":
                return HttpResponseNotAllowed(["POST"])
            if not self._can_operate(request):
                raise PermissionDenied
            payment = self._get_payment(request, object_id)
            getattr(self, f"_{operation}")(request, payment)
            return HttpResponseRedirect(
                reverse("admin:payments_payment_change", args=[payment.pk])
            )

        return view

    def _get_payment(self, request: HttpRequest, object_id: str) -> Payment:
        payment = self.get_object(request, unquote(object_id))
        if payment is None:
            raise Http404("No such payment.")
        return payment

    def refund_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_refund_permission(request):
            raise PermissionDenied
        payment = self._get_payment(request, object_id)
        change_url = reverse("admin:payments_payment_change", args=[payment.pk])
        data = request.POST if request.method == "POST" else None
        form = RefundForm(data, payment=payment)
        if form.is_valid():
            self._refund(request, payment, form)
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Refund {payment.public_id}",
            "opts": self.opts,
            "payment": payment,
            "form": form,
            "change_url": change_url,
            "amounts": [
                ("Captured", money(payment.amount_captured, payment.currency)),
                ("Refunded", money(payment.amount_refunded, payment.currency)),
                ("Refundable", money(form.refundable, payment.currency)),
            ],
        }
        return TemplateResponse(request, "admin/payments/payment/refund.html", context)

    def _refund(self, request: HttpRequest, payment: Payment, form: RefundForm) -> None:
        amount = form.cleaned_data["amount"]
        try:
            refund = payment_refund(
                payment=payment,
                amount=amount,
                reason=form.cleaned_data["reason"],
                requested_by=_actor(request),
                idempotency_key=form.idempotency_key,
            )
        except SERVICE_ERRORS as exc:
            self._refused(request, payment, "refund", exc)
            return
        text = (
            f"Refund {refund.public_id} of {money(refund.amount, refund.currency)}: "
            f"{refund.get_status_display().lower()} ({refund.reason})."
        )
        if refund.status == RefundStatus.FAILED:
            text += (
                f" The gateway said: {refund.failure_message or refund.failure_code}."
            )
        self.log_change(request, payment, text)
        level = (
            messages.ERROR if refund.status == RefundStatus.FAILED else messages.SUCCESS
        )
        self.message_user(request, f"{payment.public_id}: {text}", level)


def _actor(request: HttpRequest) -> str:
    return request.user.get_username()


# --- the fraud review queue --------------------------------------------------


@admin.register(PaymentReview)
class PaymentReviewAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = [
        "payment_link",
        "order_id",
        "amount_display",
        "customer_email",
        "risk_score",
        "risk_level",
        "reasons",
        "status",
        "created_at",
    ]
    list_display_links = None
    list_filter = ["currency", "risk_level"]
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
        return _payment_link(obj)

    @admin.display(description="Amount", ordering="amount")
    def amount_display(self, obj: PaymentReview) -> str:
        return money(obj.amount, obj.currency)

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

    @admin.action(description="Approve (capture) selected", permissions=["review"])
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
        # Plain Payments, so the admin log entry belongs to the payment.
        for payment in Payment.objects.filter(pk__in=queryset.values("pk")):
            try:
                payment = service(payment=payment, actor=_actor(request))
            except SERVICE_ERRORS as exc:
                self.message_user(
                    request,
                    f"{payment.public_id}: could not {verb}: {exc}",
                    messages.ERROR,
                )
                continue
            text = f"{done} in fraud review: now {payment.status}."
            self.log_change(request, payment, text)
            self.message_user(request, f"{payment.public_id}: {text}", messages.SUCCESS)


# --- refunds, saved methods, recurring charges -------------------------------


@admin.register(Refund)
class RefundAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = [
        "public_id",
        "payment_link",
        "amount_display",
        "status",
        "reason",
        "requested_by",
        "created_at",
    ]
    list_filter = ["status", "currency", "created_at"]
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
        return _payment_link(obj.payment)

    @admin.display(description="Amount", ordering="amount")
    def amount_display(self, obj: Refund) -> str:
        return money(obj.amount, obj.currency)


@admin.register(SavedPaymentMethod)
class SavedPaymentMethodAdmin(_ReadOnly, admin.ModelAdmin):
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
    search_fields = ["=public_id", "customer_reference"]
    list_select_related = ["account"]

    @admin.display(description="Expiry")
    def expiry(self, obj: SavedPaymentMethod) -> str:
        if obj.exp_month is None or obj.exp_year is None:
            return "-"
        return f"{obj.exp_month:02d}/{obj.exp_year}"


@admin.register(RecurringCharge)
class RecurringChargeAdmin(_ReadOnly, admin.ModelAdmin):
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

    @admin.display(description="Customer")
    def customer(self, obj: RecurringCharge) -> str:
        return obj.saved_method.customer_reference

    @admin.display(description="Amount", ordering="amount")
    def amount_display(self, obj: RecurringCharge) -> str:
        return money(obj.amount, obj.currency)


# --- fraud settings staff edit -----------------------------------------------


@admin.register(BlocklistEntry)
class BlocklistEntryAdmin(admin.ModelAdmin):
    list_display = ["kind", "value", "reason", "created_by", "created_at"]
    list_filter = ["kind"]
    search_fields = ["value", "reason"]
    fields = ["kind", "value", "reason"]

    def save_model(
        self, request: HttpRequest, obj: BlocklistEntry, form: Any, change: bool
    ) -> None:
        if not change:
            obj.created_by = _actor(request)
        super().save_model(request, obj, form, change)


@admin.register(AmountThreshold)
class AmountThresholdAdmin(admin.ModelAdmin):
    list_display = ["currency", "threshold", "updated_by", "updated_at"]
    fields = ["currency", "amount"]

    @admin.display(description="Threshold", ordering="amount")
    def threshold(self, obj: AmountThreshold) -> str:
        return money(obj.amount, obj.currency)

    def save_model(
        self, request: HttpRequest, obj: AmountThreshold, form: Any, change: bool
    ) -> None:
        obj.updated_by = _actor(request)
        super().save_model(request, obj, form, change)
