"""Pickups: booked at one shipping account, cancelled by confirmation."""

import logging
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations import registry
from integrations.errors import Outcome, ProviderError
from integrations.events import event_emit
from integrations.models import ProviderAccount
from integrations.secrets_registry import staff_text
from shipping import codec
from shipping.models import Pickup, PickupStatus, Shipment, ShipmentStatus
from shipping.providers.base import Pickup as BookedPickup
from shipping.providers.base import PickupCancellation, PickupRequest
from shipping.providers.validation import InvalidShippingRequest, check_pickup
from shipping.services.claims import claim_release, claim_take
from shipping.services.errors import (
    InvalidState,
    NotFound,
    ShippingError,
    carrier_refusal,
)
from shipping.services.quote_hold import shipment_carrier_account

logger = logging.getLogger(__name__)


def pickup_schedule(
    *,
    account: ProviderAccount,
    request: PickupRequest,
    shipment_ids: Sequence[str] = (),
) -> Pickup:
    """Book a pickup, for the account's bought ``shipment_ids`` if given
    (Shippo collects only those); the same idempotency key answers the pickup
    already booked. A carrier's refusal is raised in our words (its text on
    the pickup, for staff); a carrier that processed nothing raises
    ``CarrierUnavailable`` (the pickup kept ``failed``, its key free for a
    retry); a lost or unreadable answer leaves the pickup ``unknown`` for
    staff."""
    existing = Pickup.objects.filter(idempotency_key=request.idempotency_key).first()
    if existing is not None:
        return _same_request(existing, account, request)
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
        _booking_failed(pickup, error)
        return pickup
    except Exception:
        # An answer we could not read (a carrier's body of another shape):
        # the pickup may be booked. Never a 500 that leaves it 'requested'.
        logger.exception(
            "pickup answer not understood, left for staff",
            extra={"pickup_id": pickup.public_id, "account": account.slug},
        )
        _in_doubt(pickup, "the carrier's answer could not be read")
        return pickup
    _booked(pickup, booked)
    return pickup


class CarrierUnavailable(ShippingError):
    """The carrier certainly did not book ``pickup`` (unreachable, rate
    limiting, breaker open), kept ``failed`` for staff: try again, after
    ``retry_after`` seconds if the carrier said."""

    code = "carrier_unavailable"
    status_code = 503

    def __init__(
        self, message: str, *, pickup: Pickup, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.pickup = pickup
        self.retry_after = retry_after


def _booking_failed(pickup: Pickup, error: ProviderError) -> None:
    """Record why the carrier did not book ``pickup`` (its text for staff)
    and raise, except for a lost answer: that pickup is ``unknown``."""
    carrier_text = staff_text(error.message)[:255]
    if error.outcome == Outcome.UNKNOWN:
        _in_doubt(pickup, carrier_text)
        return
    pickup.status, pickup.failure_message = PickupStatus.FAILED, carrier_text
    fields = ["status", "failure_message"]
    if error.outcome == Outcome.NOT_PROCESSED:
        # Kept failed for staff; its key is freed so the caller's retry
        # under the same key books anew (nothing reached the carrier).
        pickup.idempotency_key = f"unbooked-{pickup.public_id}"
        fields.append("idempotency_key")
    pickup.save(update_fields=fields)
    if isinstance(error, InvalidShippingRequest):
        raise error  # our own check, in our words
    if error.outcome == Outcome.REJECTED:
        raise carrier_refusal(error, refused="the pickup") from None
    logger.warning(
        "pickup not booked, carrier unavailable",
        extra={"pickup_id": pickup.public_id, "code": error.code},
    )
    raise CarrierUnavailable(
        "the carrier could not be reached; nothing was booked: try again later",
        pickup=pickup,
        retry_after=error.retry_after,
    ) from None


def _in_doubt(pickup: Pickup, failure_message: str) -> None:
    pickup.status, pickup.failure_message = PickupStatus.UNKNOWN, failure_message
    pickup.save(update_fields=["status", "failure_message"])


# A booking still 'requested' this long lost its process (the call's own
# deadline is far shorter): the sweep leaves it 'unknown' for staff.
STUCK_REQUESTED = timedelta(minutes=10)


def pickups_requested_sweep(*, older_than: timedelta = STUCK_REQUESTED) -> int:
    """Pickups left ``requested`` by a booking that never recorded its end
    (a worker killed mid-call): ``unknown``, for staff to settle with
    ``pickup_resolve``; they hold their shipments until then. The number moved."""
    cutoff = timezone.now() - older_than
    stuck = Pickup.objects.filter(status=PickupStatus.REQUESTED, created_at__lt=cutoff)
    moved = stuck.update(
        status=PickupStatus.UNKNOWN,
        failure_message="the booking's answer never came back",
    )
    if moved:
        logger.warning("stuck pickup bookings left for staff", extra={"count": moved})
    return moved


def _same_request(
    pickup: Pickup, account: ProviderAccount, request: PickupRequest
) -> Pickup:
    """The pickup a key booked, if it was asked for the same account and
    day: a key reused for another (after the API's replay window) is
    refused, never answered with the first booking."""
    if pickup.account_id != account.pk or pickup.pickup_date != request.pickup_date:
        raise ShippingError(
            "this idempotency key booked another pickup",
            code="idempotency_key_reused",
            status_code=422,
        )
    return pickup


def pickup_resolve(*, pickup: Pickup, confirmation_number: str = "") -> Pickup:
    """Settle an ``unknown`` pickup from what staff learnt from the carrier:
    booked under ``confirmation_number``, or (none given) not booked, which
    frees its shipments for another pickup. One whose cancel is in doubt is
    still booked (scheduled again, a new cancel a first try) or, none given,
    cancelled. Stamped (``settled_at``): a cancel's answer arriving later
    is weighed against it (``_cancel_done``)."""
    with transaction.atomic():
        locked = Pickup.objects.select_for_update().get(pk=pickup.pk)
        if locked.status != PickupStatus.UNKNOWN:
            raise InvalidState(f"a {locked.status} pickup is settled already")
        number = confirmation_number.strip()
        if number and not _CONFIRMATION.fullmatch(number):
            raise ShippingError(
                "a confirmation number is up to 64 printable characters",
                param="confirmation_number",
            )
        if locked.cancel_requested_at is not None:
            _cancel_settled(locked, number)
        elif number:
            _booked(locked, BookedPickup(number[:64], locked.pickup_date))
        else:
            _not_booked(locked)
        locked.settled_at = timezone.now()
        Pickup.objects.filter(pk=locked.pk).update(settled_at=locked.settled_at)
    logger.info(
        "pickup settled by staff",
        extra={"pickup_id": locked.public_id, "status": locked.status},
    )
    return locked


def _cancel_settled(pickup: Pickup, number: str) -> None:
    # Our earlier cancel is no longer in doubt either way.
    pickup.cancel_requested_at, pickup.failure_message = None, ""
    fields = ["status", "cancel_requested_at", "failure_message"]
    if not number:
        pickup.status = PickupStatus.CANCELLED
        pickup.save(update_fields=fields)
        _announce_cancelled(pickup)  # in pickup_resolve's transaction
    elif number != pickup.confirmation_number:
        pickup.save(update_fields=fields[1:])
        same_place = pickup.location_code  # FedEx's, kept for the next cancel
        _booked(
            pickup, BookedPickup(number, pickup.pickup_date, location_code=same_place)
        )
    else:
        pickup.status = PickupStatus.SCHEDULED  # announced scheduled already
        pickup.save(update_fields=fields)


def _pickup_store(
    account: ProviderAccount, request: PickupRequest, shipments: list[Shipment]
) -> tuple[Pickup, bool]:
    """The new pickup row, or (``False``) the one stored first under the key."""
    try:
        with transaction.atomic():
            if shipments:
                # Two bookings of one shipment at once: the second waits here
                # and then finds the first's pickup holding it.
                pks = sorted(s.pk for s in shipments)
                list(Shipment.objects.select_for_update().filter(pk__in=pks))
                _refuse_held(shipments)
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
    _refuse_held(found)
    return found


def _refuse_held(shipments: list[Shipment]) -> None:
    """InvalidState when a shipment is on a pickup that holds it: a second
    booking would send the carrier's driver twice; one whose booking is
    unknown is settled by staff first (pickup_resolve)."""
    booked = (
        Pickup.objects.filter(status__in=_HOLDING, shipments__in=shipments)
        .values_list("public_id", "status")
        .first()
    )
    if booked is not None:
        raise InvalidState(
            f"a shipment is already on {booked[1]} pickup {booked[0]}",
            code="already_scheduled",
            param="shipments",
        )


_CONFIRMATION = re.compile(r"[\x21-\x7e]{1,64}")
# Pickups that hold their shipments: booked, being booked, or maybe booked.
_HOLDING = (PickupStatus.SCHEDULED, PickupStatus.REQUESTED, PickupStatus.UNKNOWN)


def _with_shipments(request: PickupRequest, shipments: list[Shipment]) -> PickupRequest:
    # One pickup collects from one carrier account (Shippo's, kept at purchase).
    accounts = {shipment_carrier_account(s) for s in shipments}
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
            payload=_pickup_payload(pickup),
        )


def _not_booked(pickup: Pickup) -> None:
    # The shop had a 202 unknown: it hears the end (once: only an unknown
    # pickup, locked, is settled).
    pickup.status = PickupStatus.FAILED
    pickup.failure_message = "staff found no booking at the carrier"
    pickup.save(update_fields=["status", "failure_message"])
    event_emit(
        name="pickup.failed", subject=pickup.public_id, payload=_pickup_payload(pickup)
    )


def _pickup_payload(pickup: Pickup) -> dict[str, object]:
    # Public (storefront_hooks.catalog): what the pickup API shows, no
    # carrier text (failure_message stays with staff).
    shipments = pickup.shipments.order_by("public_id").values_list("public_id")
    return {
        "pickup": pickup.public_id,
        "status": pickup.status,
        "confirmation_number": pickup.confirmation_number,
        "pickup_date": pickup.pickup_date.isoformat(),
        "shipments": [public_id for (public_id,) in shipments],
    }


def pickup_cancel(*, pickup: Pickup) -> Pickup:
    """Cancel a scheduled pickup at the carrier; 409 ``cancel_in_progress``
    while another cancel of it is at the carrier. The carrier's success or
    "already cancelled" (adapter code ``already_cancelled``) ends it
    cancelled. After a try whose cancel went out and lost its answer, a
    refusal or "not found" does not tell whether ours landed or the pickup
    was done: it ends ``unknown`` with the carrier's answer, for staff
    (``pickup_resolve``). A success arriving after staff settled the pickup
    is not applied (409 ``pickup_changed``, ``_cancel_done``). Every try
    carries one key for the cancellation."""
    claim = None if pickup.status == PickupStatus.CANCELLED else _cancel_claim(pickup)
    if claim is None:
        return pickup  # cancelled already (maybe by a cancel running meanwhile)
    claimed_at, in_doubt = claim
    try:
        _cancel_at_carrier(pickup, claimed_at, in_doubt)
    finally:
        claim_release(pickup, "cancel_started_at", claimed_at)
    return pickup


def _cancel_claim(pickup: Pickup) -> tuple[datetime, bool] | None:
    """Take the cancel for this call, and whether an earlier cancel of ours
    may have landed, both read from the row: a second cancel started
    meanwhile (a double click) is refused, so never reads our mark. None
    when the row is cancelled already."""
    now = timezone.now()
    with transaction.atomic():
        row = Pickup.objects.select_for_update().get(pk=pickup.pk)
        pickup.status, pickup.cancel_requested_at = row.status, row.cancel_requested_at
        # The booking cancelled is the one stored now (staff may have settled
        # it under another number since the caller loaded it).
        pickup.confirmation_number = row.confirmation_number
        pickup.location_code = row.location_code
        if row.status == PickupStatus.CANCELLED:
            return None
        if row.status != PickupStatus.SCHEDULED:
            raise InvalidState(f"a {row.status} pickup cannot be cancelled")
        if not claim_take(Pickup.objects.filter(pk=row.pk), "cancel_started_at", now):
            raise InvalidState(
                "a cancel of this pickup is already under way",
                code="cancel_in_progress",
            )
        pickup.cancel_started_at = now
    return now, row.cancel_requested_at is not None


def _cancel_at_carrier(pickup: Pickup, claimed_at: datetime, in_doubt: bool) -> None:
    adapter = registry.get_adapter(pickup.account)
    marked: list[datetime] = []  # the in-doubt mark this call wrote, if any
    try:
        adapter.cancel_pickup(
            PickupCancellation(
                confirmation_number=pickup.confirmation_number,
                pickup_date=pickup.pickup_date,
                address=codec.address_from_json(pickup.address),
                location_code=pickup.location_code,
                idempotency_key=f"{pickup.public_id}-cancel",
                on_send=lambda: _cancel_sent(pickup, marked),
            )
        )
    except ProviderError as error:
        if error.code != "already_cancelled":
            _cancel_not_done(pickup, error, (claimed_at, marked), in_doubt)
            return  # cancelled meanwhile, by the cancel that took ours over
        logger.info(
            "pickup already cancelled at the carrier",
            extra={"pickup_id": pickup.public_id, "code": error.code},
        )
    _cancel_done(pickup, claimed_at, pickup.confirmation_number)


def _cancel_done(pickup: Pickup, claimed_at: datetime, cancelled: str) -> None:
    """The carrier cancelled booking ``cancelled``: its word wins over ours.
    While the pickup is booked under that number it ends cancelled
    (announced once), whoever holds the claim now and whatever staff settled
    since (a settle after our claim is contradicted: flagged for staff).
    One booked under another number since (staff settled it so after our
    claim: the number only changes that way) is left as it is: the mismatch
    is recorded for staff and refused (409 ``pickup_changed``)."""
    with transaction.atomic():
        row = Pickup.objects.select_for_update().get(pk=pickup.pk)
        if row.status == PickupStatus.CANCELLED:
            # By the cancel that took ours over (or ours, past its claim).
            pickup.status = row.status
            return
        if row.confirmation_number == cancelled and row.status in (
            PickupStatus.SCHEDULED,
            PickupStatus.UNKNOWN,
        ):
            _cancelled(row, claimed_at)
            pickup.status, pickup.failure_message = row.status, row.failure_message
            pickup.cancel_requested_at = None
            return
        _cancel_not_applied(row, cancelled)
    pickup.status, pickup.confirmation_number = row.status, row.confirmation_number
    pickup.cancel_requested_at = row.cancel_requested_at
    raise InvalidState(
        f"the carrier cancelled confirmation {cancelled}, but the pickup was "
        f"settled meanwhile and is now {row.status} under confirmation "
        f"{row.confirmation_number or 'none'}: nothing was changed",
        code="pickup_changed",
    )


def _cancelled(row: Pickup, claimed_at: datetime) -> None:
    """End ``row`` (locked) cancelled, the doubt cleared in the same save as
    staff's settle clears it (``_cancel_settled``)."""
    row.status = PickupStatus.CANCELLED
    row.cancel_requested_at, row.failure_message = None, ""
    row.save(update_fields=["status", "cancel_requested_at", "failure_message"])
    _announce_cancelled(row)
    if row.settled_at is not None and row.settled_at > claimed_at:
        # Staff settled it as still booked after our cancel set out; the
        # carrier's later answer says otherwise.
        logger.warning(
            "pickup cancelled at the carrier after staff settled it booked",
            extra={"pickup_id": row.public_id},
        )
        event_emit(
            name="pickup.cancel_after_settle",
            subject=row.public_id,
            payload=_pickup_payload(row),
        )


def _cancel_not_applied(row: Pickup, cancelled: str) -> None:
    # On the pickup's events (internal, never sent to a storefront) for staff.
    logger.warning(
        "pickup cancel answer not applied",
        extra={"pickup_id": row.public_id, "status": row.status},
    )
    event_emit(
        name="pickup.cancel_not_applied",
        subject=row.public_id,
        payload={
            **_pickup_payload(row),
            "cancelled_confirmation_number": cancelled,
        },
    )


def _announce_cancelled(pickup: Pickup) -> None:
    event_emit(
        name="pickup.cancelled",
        subject=pickup.public_id,
        payload=_pickup_payload(pickup),
    )


def _cancel_sent(pickup: Pickup, marked: list[datetime]) -> None:
    """Our cancel request is about to go out: from here on it may land at
    the carrier whatever becomes of its answer (committed before the call).
    The instant is kept in ``marked`` only when this call wrote the mark."""
    if pickup.cancel_requested_at is None:
        now = timezone.now()
        unmarked = Pickup.objects.filter(pk=pickup.pk, cancel_requested_at__isnull=True)
        if unmarked.update(cancel_requested_at=now):
            pickup.cancel_requested_at = now
            marked.append(now)


def _cancel_not_done(
    pickup: Pickup,
    error: ProviderError,
    claim: tuple[datetime, list[datetime]],
    in_doubt: bool,
) -> None:
    """Raise for a cancel the carrier did not confirm. A first try's definite
    answer clears the mark this call wrote (``claim``: our claim's instant
    and the mark's, if ours; another run's mark is never ours to clear); a
    lost one keeps it. While an earlier cancel is in doubt, a refusal or
    "not found" settles nothing (ours landed, or the pickup was done):
    ``unknown``. Written only while our claim stands on the pickup as we
    read it: one that ran past its claim leaves the pickup to the cancel
    that took it over (and staff), and returns if that one ended it
    cancelled. The carrier's text goes to staff, never to the caller."""
    claimed_at, marked = claim
    ours = Pickup.objects.filter(
        pk=pickup.pk, status=PickupStatus.SCHEDULED, cancel_started_at=claimed_at
    )
    carrier_text = staff_text(error.message)[:255]
    if in_doubt and _carrier_refused(error):
        if ours.update(status=PickupStatus.UNKNOWN, failure_message=carrier_text):
            pickup.status, pickup.failure_message = PickupStatus.UNKNOWN, carrier_text
            logger.warning(
                "pickup cancel in doubt, left for staff",
                extra={"pickup_id": pickup.public_id, "code": error.code},
            )
        elif _cancelled_since(pickup):
            return
        raise ShippingError(
            "the carrier's answer does not tell whether the earlier cancel "
            "landed; staff settle the pickup by hand",
            code="cancel_in_doubt",
            status_code=502,
            staff_detail=carrier_text,
        ) from None
    definite = not in_doubt and error.outcome != Outcome.UNKNOWN
    mine = ours.filter(cancel_requested_at=marked[0]) if marked else None
    if definite and mine is not None and mine.update(cancel_requested_at=None):
        pickup.cancel_requested_at = None
    if _cancelled_since(pickup):
        return
    raise _cancel_failed(pickup, error) from None


def _cancelled_since(pickup: Pickup) -> bool:
    # Announced by the cancel (or staff) that ended it so, not again here.
    status = Pickup.objects.values_list("status", flat=True).get(pk=pickup.pk)
    if status == PickupStatus.CANCELLED:
        pickup.status = status
    return status == PickupStatus.CANCELLED


def _carrier_refused(error: ProviderError) -> bool:
    # The carrier's own answer, not one given before any call (our checks).
    return error.outcome == Outcome.REJECTED and not (
        isinstance(error, InvalidShippingRequest) or error.code == "not_supported"
    )


def _cancel_failed(pickup: Pickup, error: ProviderError) -> ShippingError:
    # Our own words per code (issue 17, 3); the carrier's text for staff.
    carrier_text = staff_text(error.message)[:255]
    logger.warning(
        "pickup cancel not done",
        extra={"pickup_id": pickup.public_id, "code": error.code},
    )
    if error.code == "not_supported":
        # Shippo: "contact the carrier directly" with the confirmation.
        return ShippingError(
            "this carrier's pickups cannot be cancelled through us: cancel it "
            f"with the carrier directly, confirmation {pickup.confirmation_number}",
            code="not_supported",
            status_code=422,
            staff_detail=carrier_text,
        )
    return ShippingError(
        _NOT_CANCELLED.get(error.outcome, "the carrier did not cancel the pickup"),
        code=f"carrier_{error.outcome}",
        status_code=502,
        staff_detail=carrier_text,
    )


_NOT_CANCELLED = {
    Outcome.REJECTED: "the carrier refused to cancel the pickup",
    Outcome.UNKNOWN: "the carrier's answer to the cancel was lost; it may have "
    "landed: try the cancel again",
}
