"""Pickups: booked at one shipping account, cancelled by confirmation."""

import logging
from collections.abc import Sequence
from dataclasses import replace

from django.db import IntegrityError, transaction

from integrations import registry
from integrations.errors import Outcome, ProviderError
from integrations.events import event_emit
from integrations.models import ProviderAccount
from integrations.secrets_registry import staff_text
from shipping import codec
from shipping.models import Pickup, PickupStatus, Shipment, ShipmentStatus
from shipping.providers.base import Pickup as BookedPickup
from shipping.providers.base import PickupCancellation, PickupRequest
from shipping.providers.validation import check_pickup
from shipping.services.errors import InvalidState, NotFound, ShippingError

logger = logging.getLogger(__name__)


def pickup_schedule(
    *,
    account: ProviderAccount,
    request: PickupRequest,
    shipment_ids: Sequence[str] = (),
) -> Pickup:
    """Book a pickup, for the account's bought ``shipment_ids`` if given
    (Shippo collects only those); the same idempotency key answers the pickup
    already booked. A carrier's refusal is raised; an unknown answer leaves
    the pickup ``unknown`` for staff."""
    existing = Pickup.objects.filter(idempotency_key=request.idempotency_key).first()
    if existing is not None:
        return existing
    if account.kind != "shipping":
        raise NotFound("no such shipping account", param="account")
    shipments = _shipments(account, shipment_ids)
    if shipments:
        request = _with_shipments(request, shipments)
    # Checked before a row is written, as the adapter would before its call.
    check_pickup(
        request.address, request.ready_time, request.close_time, request.parcel_count
    )
    adapter = registry.get_adapter(account)
    pickup, created = _pickup_store(account, request, shipments)
    if not created:
        return pickup  # a concurrent call with the same key (a double submit)
    try:
        booked = adapter.schedule_pickup(request)
    except ProviderError as error:
        unknown = error.outcome == Outcome.UNKNOWN
        pickup.status = PickupStatus.UNKNOWN if unknown else PickupStatus.FAILED
        pickup.failure_message = staff_text(error.message)[:255]
        pickup.save(update_fields=["status", "failure_message"])
        if error.outcome == Outcome.REJECTED:
            raise
        return pickup
    _booked(pickup, booked)
    return pickup


def _pickup_store(
    account: ProviderAccount, request: PickupRequest, shipments: list[Shipment]
) -> tuple[Pickup, bool]:
    """The new pickup row, or (``False``) the one stored first under the key."""
    try:
        with transaction.atomic():
            pickup = Pickup.objects.create(
                account=account,
                address=codec.address_to_json(request.address),
                pickup_date=request.pickup_date,
                ready_time=request.ready_time,
                close_time=request.close_time,
                parcel_count=request.parcel_count,
                total_weight=request.total_weight,
                weight_unit=str(request.weight_unit),
                instructions=request.instructions[:255],
                idempotency_key=request.idempotency_key,
            )
            pickup.shipments.set(shipments)
    except IntegrityError:
        return Pickup.objects.get(idempotency_key=request.idempotency_key), False
    return pickup, True


def _shipments(account: ProviderAccount, public_ids: Sequence[str]) -> list[Shipment]:
    found = list(
        Shipment.objects.select_related("quote").filter(
            account=account,
            status=ShipmentStatus.PURCHASED,
            public_id__in=set(public_ids),
        )
    )
    if len(found) != len(set(public_ids)):
        raise NotFound(
            "every shipment must be a bought label of this account",
            param="shipments",
        )
    booked = (
        Pickup.objects.filter(status=PickupStatus.SCHEDULED, shipments__in=found)
        .values_list("public_id", flat=True)
        .first()
    )
    if booked is not None:
        # A second booking would send the carrier's driver twice.
        raise InvalidState(
            f"a shipment is already on scheduled pickup {booked}",
            code="already_scheduled",
            param="shipments",
        )
    return found


def _with_shipments(request: PickupRequest, shipments: list[Shipment]) -> PickupRequest:
    # One pickup collects from one carrier account (Shippo's, from the quote).
    accounts = {
        str((s.quote.extra if s.quote else {}).get("carrier_account") or "")
        for s in shipments
    }
    if len(accounts) > 1:
        raise ShippingError(
            "the shipments were bought from different carrier accounts",
            param="shipments",
        )
    return replace(
        request,
        tracking_numbers=tuple(s.tracking_number for s in shipments),
        carrier_shipment_ids=tuple(s.carrier_shipment_id for s in shipments),
        carrier_account=accounts.pop(),
    )


def _booked(pickup: Pickup, booked: BookedPickup) -> None:
    with transaction.atomic():
        pickup.status = PickupStatus.SCHEDULED
        pickup.confirmation_number = booked.confirmation_number
        pickup.location_code = booked.location_code
        pickup.save(update_fields=["status", "confirmation_number", "location_code"])
        event_emit(
            name="pickup.scheduled",
            subject=pickup.public_id,
            payload={
                "pickup": pickup.public_id,
                "confirmation_number": pickup.confirmation_number,
                "pickup_date": pickup.pickup_date.isoformat(),
            },
        )


def pickup_cancel(*, pickup: Pickup) -> Pickup:
    if pickup.status == PickupStatus.CANCELLED:
        return pickup
    if pickup.status != PickupStatus.SCHEDULED:
        raise InvalidState(f"a {pickup.status} pickup cannot be cancelled")
    adapter = registry.get_adapter(pickup.account)
    try:
        adapter.cancel_pickup(
            PickupCancellation(
                confirmation_number=pickup.confirmation_number,
                pickup_date=pickup.pickup_date,
                address=codec.address_from_json(pickup.address),
                location_code=pickup.location_code,
            )
        )
    except ProviderError as error:
        if error.code == "not_supported":
            # Shippo: "contact the carrier directly" with the confirmation.
            raise ShippingError(
                f"{error.message}: cancel it with the carrier directly, "
                f"confirmation {pickup.confirmation_number}",
                code="not_supported",
                status_code=422,
            ) from None
        raise ShippingError(
            f"the carrier did not cancel the pickup: {error.message}",
            code=f"carrier_{error.outcome}",
            status_code=502,
        ) from None
    pickup.status = PickupStatus.CANCELLED
    pickup.save(update_fields=["status"])
    return pickup
