"""Schedule a pickup from the shipment list: an action on bought shipments of
one account and one sender address, then a form for the day and the hours.
The pickup goes through ``services.pickup_schedule`` as the API's does; the
form's key makes a second submit answer the pickup already booked."""

import uuid
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from integrations.errors import ProviderError
from shipping import codec, services
from shipping.models import Pickup, Shipment, ShipmentStatus
from shipping.providers.base import InvalidShippingRequest, PickupRequest
from shipping.services.pickups import CarrierUnavailable
from shipping.units import WeightUnit, convert_weight

TEMPLATE = "admin/shipping/shipment/schedule_pickup.html"
MAX_SHIPMENTS = 100  # as the API's ``shipments`` list
_GRAM = Decimal("0.001")


class SchedulePickupForm(forms.Form):
    pickup_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    ready_time = forms.TimeField(
        initial="09:00", widget=forms.TimeInput(attrs={"type": "time"})
    )
    close_time = forms.TimeField(
        initial="17:00", widget=forms.TimeInput(attrs={"type": "time"})
    )
    instructions = forms.CharField(max_length=255, required=False)
    # The stored sender may have none, and USPS requires one (its pickup's
    # contact): staff give it here, for this pickup only.
    email = forms.EmailField(
        label="Contact email",
        required=False,
        help_text="Sent with the pickup as its contact (USPS requires one). "
        "Starts as the sender's stored email; blank keeps that. The "
        "shipments' stored sender is not changed.",
    )
    # The stored key is "admin-pickup-" and this: within the column's 64.
    key = forms.CharField(widget=forms.HiddenInput, max_length=32)


def selection_problem(shipments: list[Shipment]) -> str:
    """Why these shipments cannot share one pickup; empty when they can."""
    if not shipments:
        return "Select at least one shipment."
    if len(shipments) > MAX_SHIPMENTS:
        return f"One pickup collects at most {MAX_SHIPMENTS} shipments."
    if any(s.status != ShipmentStatus.PURCHASED for s in shipments):
        return "Only bought labels can be collected."
    if len({s.account_id for s in shipments}) > 1:
        return "One pickup collects from one carrier account."
    if len({codec.address_from_json(s.from_address) for s in shipments}) > 1:
        return "One pickup collects at one address: the senders differ."
    return ""


def collected(shipments: list[Shipment]) -> tuple[int, Decimal]:
    """The parcels of ``shipments`` and their weight in kilograms."""
    parcels = [codec.parcel_from_json(p) for s in shipments for p in s.parcels or ()]
    weight = sum(
        (convert_weight(p.weight, p.weight_unit, WeightUnit.KG) for p in parcels),
        Decimal(0),
    )
    return max(len(parcels), 1), max(weight.quantize(_GRAM), _GRAM)


def pickup_request(shipments: list[Shipment], data: dict[str, Any]) -> PickupRequest:
    """The pickup of ``shipments`` on the form's day, at their sender."""
    count, weight = collected(shipments)
    sender = codec.address_from_json(shipments[0].from_address)
    return PickupRequest(
        address=replace(sender, email=data.get("email") or sender.email),
        pickup_date=data["pickup_date"],
        ready_time=data["ready_time"],
        close_time=data["close_time"],
        parcel_count=count,
        total_weight=weight,
        weight_unit=WeightUnit.KG,
        instructions=data["instructions"],
        idempotency_key=f"admin-pickup-{data['key']}",
    )


class SchedulePickupMixin:
    """``schedule_pickup``: the action, and the view it leads to."""

    @admin.action(
        description="Schedule a pickup for selected shipments", permissions=["buy"]
    )
    def schedule_pickup(
        self, request: HttpRequest, queryset: QuerySet[Shipment]
    ) -> HttpResponse | None:
        problem = selection_problem(list(queryset[: MAX_SHIPMENTS + 1]))
        if problem:
            self.message_user(request, problem, messages.ERROR)  # type: ignore[attr-defined]
            return None
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
        url = reverse("admin:shipping_shipment_schedule_pickup")
        return HttpResponseRedirect(f"{url}?ids={ids}")

    def has_buy_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("shipping.add_shipment")

    def schedule_pickup_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_buy_permission(request):
            raise PermissionDenied
        shipments = _selected(request.GET.get("ids", ""))
        problem = selection_problem(shipments)
        if problem:
            self.message_user(request, problem, messages.ERROR)  # type: ignore[attr-defined]
            return HttpResponseRedirect(reverse("admin:shipping_shipment_changelist"))
        address = codec.address_from_json(shipments[0].from_address)
        form = SchedulePickupForm(
            request.POST if request.method == "POST" else None,
            initial={
                "pickup_date": _next_weekday(),
                "key": uuid.uuid4().hex,
                "email": address.email,
            },
        )
        if form.is_valid():
            pickup = self._book(request, form, shipments)
            if pickup is not None:
                return HttpResponseRedirect(
                    reverse("admin:shipping_pickup_change", args=[pickup.pk])
                )
        parcel_count, weight = collected(shipments)
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "title": "Schedule a pickup",
            "opts": self.opts,  # type: ignore[attr-defined]
            "form": form,
            "shipments": shipments,
            "account": shipments[0].account,
            "address": address,
            "parcel_count": parcel_count,
            "total_weight": weight,
        }
        return TemplateResponse(request, TEMPLATE, context)

    def _book(
        self, request: HttpRequest, form: SchedulePickupForm, shipments: list[Shipment]
    ) -> Pickup | None:
        """The pickup booked (or failed at the carrier, stored for staff);
        None with the reason on the form when it was refused before or at
        the carrier."""
        try:
            pickup = services.pickup_schedule(
                account=shipments[0].account,
                request=pickup_request(shipments, form.cleaned_data),
                shipment_ids=[s.public_id for s in shipments],
            )
        except InvalidShippingRequest as exc:
            # "address.email" is the form's email; the other address fields
            # are the stored sender's, none of the form's.
            name = exc.param.removeprefix("address.")
            field = name if name in form.fields else None
            form.add_error(field, exc.message)
            return None
        except CarrierUnavailable as exc:
            pickup = exc.pickup  # failed, nothing at the carrier: staff see it
        except (services.ShippingError, ProviderError) as exc:
            # Staff read the carrier's own words the caller is not given.
            said = getattr(exc, "staff_detail", "")
            text = f"{exc.message} (the carrier said: {said})" if said else exc.message
            form.add_error(None, f"The pickup was not booked: {text}")
            # Refused at the carrier: its failed row holds the old key, and
            # the corrected form must book anew.
            form.data = form.data.copy()
            form.data["key"] = uuid.uuid4().hex
            return None
        level = messages.SUCCESS if pickup.status == "scheduled" else messages.WARNING
        text = f"Pickup {pickup.public_id}: {pickup.get_status_display().lower()}"
        if pickup.failure_message:
            text += f" ({pickup.failure_message})"
        self.message_user(request, text, level)  # type: ignore[attr-defined]
        return pickup


def _selected(ids: str) -> list[Shipment]:
    parts = ids.split(",")[: MAX_SHIPMENTS + 1]
    pks = [
        int(part)
        for part in parts
        if part.isascii() and part.isdigit() and len(part) <= 18
    ]
    return list(
        Shipment.objects.select_related("account").filter(pk__in=pks).order_by("pk")
    )


def _next_weekday() -> Any:
    day = timezone.localdate() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day
