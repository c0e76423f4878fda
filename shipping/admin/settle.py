"""Settle by hand: staff's outcome for an ``unknown`` label the carrier cannot
settle (no look-up by our key), on the shipment's page. Its own permission
(``shipping.settle_shipment``): it records a billed label on staff's word."""

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest
from django.urls import reverse

from integrations.admin.staff_action import StaffAction, StaffActionForm
from integrations.models import Event
from integrations.timeline import TimelineEntry
from shipping.models import LabelFormatChoice, Shipment, ShipmentStatus
from shipping.services import ShippingError
from shipping.services.settle import (
    MAX_LABEL_BYTES,
    SETTLED_EVENT,
    shipment_settle_by_hand,
)


class ShipmentSettleForm(StaffActionForm):
    """Staff's outcome for an ``unknown`` label."""

    outcome = forms.ChoiceField(
        choices=[
            ("bought", "Bought: the carrier made (and bills) the label"),
            ("not_bought", "Not bought: the carrier has no such label"),
        ],
        widget=forms.RadioSelect,
    )
    tracking_number = forms.CharField(
        max_length=64,
        required=False,
        help_text="The carrier's tracking number of the label (required for bought).",
    )
    carrier_label_id = forms.CharField(
        label="Carrier's label id",
        max_length=128,
        required=False,
        help_text="Shippo: the label's transaction id (object_id), which a void "
        "names. Not needed where the tracking number is the label's id.",
    )
    label_file = forms.FileField(
        required=False,
        help_text="The label file from the carrier's site, if you have it.",
    )
    label_format = forms.ChoiceField(
        choices=LabelFormatChoice.choices, required=False, initial="pdf"
    )
    note = forms.CharField(
        label="Staff note",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="How you know (e.g. what the carrier's site or support says).",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        number = (data.get("tracking_number") or "").strip()
        if data.get("outcome") == "bought" and not number:
            self.add_error("tracking_number", "Required for a bought label.")
        upload = data.get("label_file")
        if upload is not None and upload.size > MAX_LABEL_BYTES:
            self.add_error("label_file", "The file is too large for a label.")
        return data


class ShipmentSettleAction(StaffAction):
    route = "settle"
    form_class = ShipmentSettleForm
    template = "admin/shipping/shipment/settle.html"
    object_name = "shipment"

    def allowed(self, request: HttpRequest) -> bool:
        return self.model_admin.has_settle_permission(request)  # type: ignore[attr-defined]

    def refusal(self, shipment: Shipment) -> str:
        if shipment.status == ShipmentStatus.UNKNOWN:
            return ""
        return (
            f"{shipment.public_id} is {shipment.status}: only an unknown "
            "shipment is settled by hand."
        )

    def title(self, shipment: Shipment) -> str:
        return f"Settle {shipment.public_id} by hand"

    def form(self, request: HttpRequest, shipment: Shipment) -> StaffActionForm:
        posted = request.method == "POST"
        return ShipmentSettleForm(
            request.POST if posted else None,
            request.FILES if posted else None,
            # What the shipment kept of a label made (a garbled file's ids).
            initial={
                "tracking_number": shipment.tracking_number,
                "carrier_label_id": shipment.carrier_shipment_id,
                "label_format": shipment.label_format,
            },
        )

    def apply(
        self, request: HttpRequest, shipment: Shipment, form: StaffActionForm
    ) -> bool:
        """Apply staff's outcome; False (the form holds why) when refused."""
        data = form.cleaned_data
        upload = data.get("label_file")
        try:
            shipment = shipment_settle_by_hand(
                shipment=shipment,
                outcome=data["outcome"],
                note=data["note"],
                actor=request.user.get_username(),
                tracking_number=data["tracking_number"],
                carrier_label_id=data.get("carrier_label_id") or "",
                label_data=upload.read() if upload is not None else b"",
                label_format=data.get("label_format") or "",
            )
        except ShippingError as exc:
            return form.refuse(exc.message, exc.param or None)
        text = f"Settled by hand: unknown → {shipment.status}" + (
            f" ({shipment.tracking_number})." if shipment.tracking_number else "."
        )
        self.model_admin.log_change(request, shipment, text)
        self.model_admin.message_user(
            request, f"{shipment.public_id}: {text}", messages.SUCCESS
        )
        return True


class ShipmentSettleMixin:
    """For ``ShipmentAdmin``: the "Settle by hand" button, form and view."""

    def has_settle_permission(self, request: HttpRequest) -> bool:
        # Settling shows the shipment: who may not see it may not settle it.
        may_view = self.has_view_permission(request)  # type: ignore[attr-defined]
        return may_view and request.user.has_perm("shipping.settle_shipment")

    def settle_url(self, request: HttpRequest, shipment: Shipment) -> str:
        """The button's URL ("": hidden): unknown shipments, for those allowed."""
        if shipment.status != ShipmentStatus.UNKNOWN:
            return ""
        if not self.has_settle_permission(request):
            return ""
        return reverse("admin:shipping_shipment_settle", args=[shipment.pk])

    def settle_urls(self) -> list[Any]:
        return [ShipmentSettleAction(self).url()]  # type: ignore[arg-type]


def settle_entries(shipment: Shipment) -> list[TimelineEntry]:
    """Staff's settlements of ``shipment``, naming who settled it and why."""
    settled = Event.objects.filter(subject=shipment.public_id, name=SETTLED_EVENT)
    entries = []
    for event in settled.order_by("-created_at")[:10]:
        payload = event.payload or {}
        entries.append(
            TimelineEntry(
                at=event.created_at,
                kind="staff",
                title=f"Settled by hand as {payload.get('outcome', '?')} "
                f"by {payload.get('actor', '?')}",
                detail=str(payload.get("note", "")),
            )
        )
    return entries
