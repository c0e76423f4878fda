"""The "Compare carrier rates" page and its "buy label" buttons, for
``ShipmentAdmin``: each calls one service."""

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from integrations.admin.display import money_display
from integrations.errors import ProviderError
from shipping import services
from shipping.admin.forms import CompareRatesForm, new_buy_key
from shipping.models import ShipmentStatus
from shipping.providers.validation import InvalidShippingRequest


class CompareRatesMixin:
    def can_buy(self, request: HttpRequest) -> bool:
        return request.user.has_perm("shipping.add_shipment")

    def compare_view(self, request: HttpRequest) -> HttpResponse:
        if not self.can_buy(request):
            raise PermissionDenied
        form = CompareRatesForm(request.POST if request.method == "POST" else None)
        result, error = None, ""
        if form.is_valid():
            try:
                result = services.rates_shop(request=form.rate_request())
            except InvalidShippingRequest as exc:
                error = f"{exc.param}: {exc.message}"
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "title": "Compare carrier rates",
            "opts": self.opts,  # type: ignore[attr-defined]
            "form": form,
            "error": error,
            "result": result,
            "rows": _rows(result),
            "order_id": form.cleaned_data.get("order_id", "") if result else "",
            "buy_url": reverse("admin:shipping_shipment_buy"),
        }
        return TemplateResponse(
            request, "admin/shipping/shipment/compare_rates.html", context
        )

    def buy_view(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST" or not self.can_buy(request):
            raise PermissionDenied
        try:
            shipment = services.shipment_buy(
                quote_id=request.POST.get("quote_id", ""),
                idempotency_key=request.POST.get("key", ""),
                order_id=request.POST.get("order_id", "")[:128],
            )
        except (services.ShippingError, ProviderError) as exc:
            self.message_user(  # type: ignore[attr-defined]
                request, f"Could not buy the label: {exc}", messages.ERROR
            )
            return HttpResponseRedirect(reverse("admin:shipping_shipment_compare"))
        level = {
            ShipmentStatus.PURCHASED: messages.SUCCESS,
            ShipmentStatus.UNKNOWN: messages.WARNING,
        }.get(shipment.status, messages.ERROR)
        text = f"{shipment.public_id}: {shipment.get_status_display().lower()}"
        if shipment.failure_message:
            text += f" ({shipment.failure_message})"
        self.log_addition(request, shipment, "Label bought.")  # type: ignore[attr-defined]
        self.message_user(request, text, level)  # type: ignore[attr-defined]
        return HttpResponseRedirect(
            reverse("admin:shipping_shipment_change", args=[shipment.pk])
        )


def _rows(result: services.RateShopResult | None) -> list[dict[str, Any]]:
    if result is None:
        return []
    return [
        {
            "quote": quote,
            "price": money_display(quote.amount, quote.currency),
            "key": new_buy_key(),
        }
        for quote in result.quotes
    ]
