"""Settle by hand: staff's outcome for an ``unknown`` payment the gateway
cannot settle (a sale lost with no reference), on the payment's page. Its own
permission (``payments.settle_payment``): it books money on staff's word."""

from typing import Any

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from payments.admin.common import SERVICE_ERRORS, actor
from payments.forms import SettleForm
from payments.models import Payment, PaymentStatus
from payments.services import ChargeOwned, SettleRefused, payment_settle_by_hand


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
        view = self.admin_site.admin_view  # type: ignore[attr-defined]
        return [
            path(
                "<path:object_id>/settle/",
                view(self.settle_view),
                name="payments_payment_settle",
            ),
            *super().get_urls(),  # type: ignore[misc]
        ]

    def settle_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_settle_permission(request):
            raise PermissionDenied
        payment = self.get_object(request, unquote(object_id))  # type: ignore[attr-defined]
        if payment is None:
            raise Http404("No such payment.")
        change_url = reverse("admin:payments_payment_change", args=[payment.pk])
        if payment.status != PaymentStatus.UNKNOWN:
            self.message_user(  # type: ignore[attr-defined]
                request,
                f"{payment.public_id} is {payment.status}: only an unknown "
                "payment is settled by hand.",
                messages.WARNING,
            )
            return HttpResponseRedirect(change_url)
        form = SettleForm(request.POST if request.method == "POST" else None)
        if form.is_valid() and self._settle(request, payment, form):
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "title": f"Settle {payment.public_id} by hand",
            "opts": self.opts,  # type: ignore[attr-defined]
            "payment": payment,
            "form": form,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/payments/payment/settle.html", context)

    def _settle(self, request: HttpRequest, payment: Payment, form: SettleForm) -> bool:
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
            form.add_error("provider_reference", exc.message)
            return False
        except SettleRefused as exc:
            form.add_error(None, f"{exc.message} The gateway said: {exc.said}.")
            return False
        except SERVICE_ERRORS as exc:
            form.add_error(None, str(exc))
            return False
        reference = data["provider_reference"]
        text = f"Settled by hand: unknown → {payment.status}" + (
            f" ({reference})." if reference else "."
        )
        self.log_change(request, payment, text)  # type: ignore[attr-defined]
        self.message_user(  # type: ignore[attr-defined]
            request, f"{payment.public_id}: {text}", messages.SUCCESS
        )
        return True
