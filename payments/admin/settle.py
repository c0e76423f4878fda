"""Settle by hand: staff's outcome for an ``unknown`` payment the gateway
cannot settle (a sale lost with no reference), on the payment's page. Its own
permission (``payments.settle_payment``): it books money on staff's word."""

from typing import Any

from django.contrib import messages
from django.http import HttpRequest
from django.urls import reverse

from integrations.admin.staff_action import StaffAction
from payments.admin.common import SERVICE_ERRORS, actor
from payments.forms import SettleForm
from payments.models import Payment, PaymentStatus
from payments.services import ChargeOwned, SettleRefused, payment_settle_by_hand


class SettleAction(StaffAction):
    route = "settle"
    form_class = SettleForm
    template = "admin/payments/payment/settle.html"
    object_name = "payment"

    def allowed(self, request: HttpRequest) -> bool:
        return self.model_admin.has_settle_permission(request)  # type: ignore[attr-defined]

    def refusal(self, payment: Payment) -> str:
        if payment.status == PaymentStatus.UNKNOWN:
            return ""
        return (
            f"{payment.public_id} is {payment.status}: only an unknown "
            "payment is settled by hand."
        )

    def title(self, payment: Payment) -> str:
        return f"Settle {payment.public_id} by hand"

    def apply(self, request: HttpRequest, payment: Payment, form: SettleForm) -> bool:
        """Apply staff's outcome; False (the form holds why) when refused."""
        data = form.cleaned_data
        try:
            payment = payment_settle_by_hand(
                payment=payment,
                outcome=data["outcome"],
                provider_reference=data["provider_reference"],
                note=data["note"],
                actor=actor(request),
            )
        except ChargeOwned as exc:
            return form.refuse(exc.message, "provider_reference")
        except SettleRefused as exc:
            return form.refuse(f"{exc.message} The gateway said: {exc.said}.")
        except SERVICE_ERRORS as exc:
            return form.refuse(str(exc))
        reference = data["provider_reference"]
        text = f"Settled by hand: unknown → {payment.status}" + (
            f" ({reference})." if reference else "."
        )
        self.model_admin.log_change(request, payment, text)
        self.model_admin.message_user(
            request, f"{payment.public_id}: {text}", messages.SUCCESS
        )
        return True


class PaymentSettleMixin:
    """For ``PaymentAdmin``: the "Settle by hand" button, form and view."""

    def has_settle_permission(self, request: HttpRequest) -> bool:
        # Settling shows the payment: who may not see it may not settle it.
        may_view = self.has_view_permission(request)  # type: ignore[attr-defined]
        return may_view and request.user.has_perm("payments.settle_payment")

    def settle_url(self, request: HttpRequest, payment: Payment) -> str:
        """The button's URL ("": hidden): unknown payments, for those allowed."""
        if payment.status != PaymentStatus.UNKNOWN:
            return ""
        if not self.has_settle_permission(request):
            return ""
        return reverse("admin:payments_payment_settle", args=[payment.pk])

    def get_urls(self) -> list[Any]:
        return [SettleAction(self).url(), *super().get_urls()]  # type: ignore[arg-type, misc]
