"""What staff do to a payment: capture, void, reconcile and refund, as list
actions and as buttons on the payment page. Each calls one service."""

from collections.abc import Callable
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
from django.template.response import TemplateResponse
from django.urls import path, reverse

from integrations.admin.display import money_display
from payments.admin.common import SERVICE_ERRORS, actor
from payments.forms import RefundForm
from payments.models import Payment, PaymentStatus, RefundStatus
from payments.selectors import provider_said
from payments.services import (
    payment_capture,
    payment_reconcile,
    payment_refund,
    payment_refundable,
    payment_void,
)

OPERATIONS = ("capture", "void", "reconcile")


class PaymentOperationsMixin:
    """For ``PaymentAdmin``: actions, their permissions, URLs and views."""

    def can_operate(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payments.change_payment")

    has_capture_permission = can_operate
    has_void_permission = can_operate
    has_reconcile_permission = can_operate

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payments.refund_payment")

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
            self.message_user(  # type: ignore[attr-defined]
                request, "Refund one payment at a time.", messages.WARNING
            )
            return None
        return HttpResponseRedirect(self._url("refund", payments[0]))

    def _capture(self, request: HttpRequest, payment: Payment) -> None:
        try:
            payment = payment_capture(payment=payment, actor=actor(request))
        except SERVICE_ERRORS as exc:
            self._refused(request, payment, "capture", exc)
            return
        if payment.status == PaymentStatus.UNKNOWN:
            self._left_unknown(request, payment, "Capture")
            return
        done = f"Captured {money_display(payment.amount_captured, payment.currency)}."
        self._done(request, payment, done)

    def _void(self, request: HttpRequest, payment: Payment) -> None:
        try:
            payment = payment_void(payment=payment, actor=actor(request))
        except SERVICE_ERRORS as exc:
            self._refused(request, payment, "void", exc)
            return
        if payment.status == PaymentStatus.UNKNOWN:
            self._left_unknown(request, payment, "Void")
            return
        self.log_change(request, payment, "Voided.")  # type: ignore[attr-defined]
        self.message_user(  # type: ignore[attr-defined]
            request, f"{payment.public_id}: voided.", messages.SUCCESS
        )

    def _left_unknown(self, request: HttpRequest, payment: Payment, what: str) -> None:
        # Neither done nor refused: said (and audited) as it stands.
        text = (
            f"{what} sent; the gateway's answer was lost: outcome unknown, "
            "being reconciled."
        )
        self._done(request, payment, text, messages.WARNING)

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
        self._done(request, payment, text)

    def _done(
        self,
        request: HttpRequest,
        payment: Payment,
        text: str,
        level: int = messages.SUCCESS,
    ) -> None:
        self.log_change(request, payment, text)  # type: ignore[attr-defined]
        self.message_user(  # type: ignore[attr-defined]
            request, f"{payment.public_id}: {text}", level
        )

    def _refused(
        self, request: HttpRequest, payment: Payment, verb: str, exc: Exception
    ) -> None:
        self.message_user(  # type: ignore[attr-defined]
            request, f"{payment.public_id}: could not {verb}: {exc}", messages.ERROR
        )

    # --- the payment page's buttons and their views

    def operations_context(
        self, request: HttpRequest, payment: Payment
    ) -> dict[str, Any]:
        """The URLs of the buttons the payment page shows now ("": hidden)."""
        can_operate = self.can_operate(request)
        can_refund = self.has_refund_permission(request)
        return {
            "capture_url": self._url("capture", payment)
            if can_operate and payment.capturable
            else "",
            "void_url": self._url("void", payment)
            if can_operate and payment.status == PaymentStatus.AUTHORIZED
            else "",
            "refund_url": self._url("refund", payment)
            if can_refund and payment_refundable(payment=payment) > 0
            else "",
            "reconcile_url": self._url("reconcile", payment) if can_operate else "",
        }

    def _url(self, operation: str, payment: Payment) -> str:
        return reverse(f"admin:payments_payment_{operation}", args=[payment.pk])

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view  # type: ignore[attr-defined]
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
                for operation in OPERATIONS
            ),
            *super().get_urls(),  # type: ignore[misc]
        ]

    def _operation_view(
        self, operation: str
    ) -> Callable[[HttpRequest, str], HttpResponse]:
        def view(request: HttpRequest, object_id: str) -> HttpResponse:
            if request.method != "POST":
                return HttpResponseNotAllowed(["POST"])
            if not self.can_operate(request):
                raise PermissionDenied
            payment = self._get_payment(request, object_id)
            getattr(self, f"_{operation}")(request, payment)
            return HttpResponseRedirect(
                reverse("admin:payments_payment_change", args=[payment.pk])
            )

        return view

    def _get_payment(self, request: HttpRequest, object_id: str) -> Payment:
        payment = self.get_object(request, unquote(object_id))  # type: ignore[attr-defined]
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
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "title": f"Refund {payment.public_id}",
            "opts": self.opts,  # type: ignore[attr-defined]
            "payment": payment,
            "form": form,
            "change_url": change_url,
            "amounts": [
                ("Captured", money_display(payment.amount_captured, payment.currency)),
                ("Refunded", money_display(payment.amount_refunded, payment.currency)),
                ("Refundable", money_display(form.refundable, payment.currency)),
            ],
        }
        return TemplateResponse(request, "admin/payments/payment/refund.html", context)

    def _refund(self, request: HttpRequest, payment: Payment, form: RefundForm) -> None:
        try:
            refund = payment_refund(
                payment=payment,
                amount=form.cleaned_data["amount"],
                reason=form.cleaned_data["reason"],
                requested_by=actor(request),
                idempotency_key=form.idempotency_key,
            )
        except SERVICE_ERRORS as exc:
            self._refused(request, payment, "refund", exc)
            return
        text = (
            f"Refund {refund.public_id} of "
            f"{money_display(refund.amount, refund.currency)}: "
            f"{refund.get_status_display().lower()} ({refund.reason})."
        )
        failed = refund.status == RefundStatus.FAILED
        if refund.status == RefundStatus.PENDING and refund.next_attempt_at:
            text += " No gateway could be reached; it is sent again automatically."
        if failed:
            # Staff see the gateway's own words (secrets masked).
            said = provider_said(payment) or refund.failure_message
            text += f" The gateway said: {said or refund.failure_code}."
        self._done(
            request, payment, text, messages.ERROR if failed else messages.SUCCESS
        )
