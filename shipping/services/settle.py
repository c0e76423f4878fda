"""Settling an ``unknown`` label by hand: staff's word when the carrier cannot
say (FedEx, UPS, DHL Express and USPS have no look-up by our key, so a lost
answer never settles on its own). Staff check the carrier's own site or
support, then record "bought" (its tracking number) or "not bought"."""

import logging
from dataclasses import dataclass

from django.db import transaction

from integrations import registry
from integrations.events import event_emit
from integrations.secrets_registry import known_secrets, redact_secrets
from shipping.models import LabelFormatChoice, Shipment, ShipmentStatus
from shipping.providers import answers
from shipping.providers.base import Label, LabelFormat, LabelStatus
from shipping.services.errors import InvalidState
from shipping.services.labels import label_apply

logger = logging.getLogger(__name__)

SETTLE_OUTCOMES = ("bought", "not_bought")
# The internal event (never sent to a storefront) that puts staff's word on
# the shipment's timeline.
SETTLED_EVENT = "shipment.settled_by_hand"
# What a storefront polling the shipment (or replaying its key: 422
# label_failed) is told of a label staff found was never made.
NOT_BOUGHT_CODE = "not_found_at_carrier"
# A label file staff upload: a few pages of PDF at most.
MAX_LABEL_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class ManualLabel:
    outcome: str
    tracking_number: str
    # What a void names: the carrier's own label id, where not the number.
    carrier_label_id: str
    label_data: bytes
    label_format: str
    note: str
    actor: str


def shipment_settle_by_hand(
    *,
    shipment: Shipment,
    outcome: str,
    note: str,
    actor: str,
    tracking_number: str = "",
    label_data: bytes = b"",
    label_format: str = "",
    carrier_label_id: str = "",
) -> Shipment:
    """Settle an ``unknown`` shipment as ``outcome``: "bought" (the carrier's
    ``tracking_number``, its label file if staff have one) or "not_bought".
    Where the carrier voids a label by an id of its own (Shippo's transaction
    id), that ``carrier_label_id`` is required unless the shipment knows it.
    Under the shipment's row lock; a shipment settled meanwhile (a webhook,
    the sweep) is refused, as is a tracking number another shipment holds."""
    manual = ManualLabel(
        outcome=outcome,
        tracking_number=tracking_number.strip(),
        carrier_label_id=carrier_label_id.strip()
        or shipment.carrier_shipment_id
        or _by_number(shipment, tracking_number.strip()),
        label_data=label_data,
        label_format=label_format or shipment.label_format,
        note=note.strip(),
        actor=actor,
    )
    _check(shipment, manual)
    with transaction.atomic():
        row = Shipment.objects.select_for_update().get(pk=shipment.pk)
        if row.status != ShipmentStatus.UNKNOWN:
            raise InvalidState(f"The shipment was settled meanwhile: {row.status}.")
        if manual.outcome == "bought":
            label_apply(row, _label(manual))
        else:
            _not_bought(row)
        event_emit(
            name=SETTLED_EVENT,
            subject=row.public_id,
            payload={
                "shipment": row.public_id,
                "outcome": manual.outcome,
                "tracking_number": manual.tracking_number,
                "actor": manual.actor,
                "note": _masked(manual.note),
            },
        )
    logger.warning(
        "label settled by hand",
        extra={
            "shipment_id": row.public_id,
            "status": row.status,
            "actor": manual.actor,
        },
    )
    shipment.refresh_from_db()
    return shipment


def _check(shipment: Shipment, manual: ManualLabel) -> None:
    if manual.outcome not in SETTLE_OUTCOMES:
        raise InvalidState("Choose bought or not bought.", param="outcome")
    if not manual.note:
        raise InvalidState("Say how you know, in the note.", param="note")
    if shipment.status != ShipmentStatus.UNKNOWN:
        raise InvalidState(
            f"Only an unknown shipment is settled by hand; it is {shipment.status}."
        )
    if manual.outcome != "bought":
        return
    if not manual.tracking_number:
        raise InvalidState(
            "Give the carrier's tracking number of the label.",
            param="tracking_number",
        )
    if not manual.carrier_label_id:
        raise InvalidState(
            "Give the carrier's label id (a Shippo transaction id): its void names it.",
            param="carrier_label_id",
        )
    _check_storable(manual)
    if manual.label_format not in LabelFormatChoice.values:
        raise InvalidState("Unknown label format.", param="label_format")
    _check_file(manual)
    owner = (
        Shipment.objects.filter(
            carrier=shipment.carrier, tracking_number=manual.tracking_number
        )
        .exclude(pk=shipment.pk)
        .first()
    )
    if owner is not None:
        raise InvalidState(
            f"That tracking number belongs to shipment {owner.public_id}.",
            param="tracking_number",
        )


def _check_storable(manual: ManualLabel) -> None:
    # Held to the columns' bounds as a carrier's answer is: a value they
    # cannot hold is staff's typo, refused before any query sees it.
    limits = answers.LABEL_LIMITS
    for param, value, limit in (
        ("tracking_number", manual.tracking_number, limits["tracking_number"]),
        ("carrier_label_id", manual.carrier_label_id, limits["carrier_shipment_id"]),
    ):
        if not answers.storable(value, limit):
            raise InvalidState(
                f"At most {limit} characters, and no control characters.",
                param=param,
            )


def _check_file(manual: ManualLabel) -> None:
    # Held to a carrier's file's check: a cut download or a sign-in page
    # saved as the label would be printed and fail at the counter.
    if not manual.label_data:
        return
    if len(manual.label_data) > MAX_LABEL_BYTES:
        raise InvalidState("The file is too large for a label.", param="label_file")
    try:
        answers.checked_files("Staff", _label(manual))
    except answers.GarbledLabelFile:
        raise InvalidState(
            f"The file is not a whole {manual.label_format.upper()} file.",
            param="label_file",
        ) from None


def _label(manual: ManualLabel) -> Label:
    return Label(
        status=LabelStatus.CREATED,
        carrier_shipment_id=manual.carrier_label_id,
        tracking_number=manual.tracking_number,
        label_data=manual.label_data,
        label_format=LabelFormat(manual.label_format),
    )


def _by_number(shipment: Shipment, number: str) -> str:
    """The tracking number as the label's id where the carrier voids by it
    (or is no longer configured: nothing will void it); "" where it voids by
    an id of its own (staff give it)."""
    try:
        adapter = registry.get_adapter_class("shipping", shipment.account.provider)
    except registry.ACCOUNT_UNCALLABLE:
        return number  # a carrier this deploy cannot load: nothing to void
    return number if getattr(adapter, "voids_by_tracking_number", True) else ""


def _not_bought(shipment: Shipment) -> None:
    shipment.status = ShipmentStatus.FAILED
    shipment.failure_code = NOT_BOUGHT_CODE
    shipment.failure_message = "Staff found no label at the carrier."
    shipment.save(update_fields=["status", "failure_code", "failure_message"])


def _masked(text: str) -> str:
    return redact_secrets(text, known_secrets(fresh=True))[:500]
