"""Pickups: booked at one shipping account, settled by staff when in doubt
(cancelling one: ``pickup_cancels``)."""

import logging
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q

from integrations import registry
from integrations.clock import database_now
from integrations.errors import Outcome, ProviderError
from integrations.events import event_emit
from integrations.models import ProviderAccount
from integrations.secrets_registry import staff_text
from shipping import codec
from shipping.models import Pickup, PickupStatus, Shipment, ShipmentStatus
from shipping.providers.base import Pickup as BookedPickup
from shipping.providers.base import PickupRequest
from shipping.providers.tracking_types import TrackingStatus
from shipping.providers.validation import (
    MAX_PICKUP_DAYS_AHEAD,
    InvalidShippingRequest,
    check_pickup,
    check_pickup_fields,
    date_window,
)
from shipping.services.claims import CLAIM_LIFE
from shipping.services.errors import (
    InvalidState,
    NotFound,
    ShippingError,
    carrier_refusal,
)
from shipping.services.quote_hold import shipment_carrier_account
from shipping.services.tracking import NOT_MOVING

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
        request.address,
        request.ready_time,
        request.close_time,
        request.parcel_count,
        request.pickup_date,
    )
    adapter = registry.get_adapter(account)
    # The carrier's pickup API's lengths and phone rule (its labels' carrier's).
    check_pickup_fields(request, adapter.limits, adapter.display_name)
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
    cutoff = database_now() - older_than
    stuck = Pickup.objects.filter(status=PickupStatus.REQUESTED, created_at__lt=cutoff)
    moved = stuck.update(
        status=PickupStatus.UNKNOWN,
        failure_message="the booking's answer never came back",
    )
    if moved:
        logger.warning("stuck pickup bookings left for staff", extra={"count": moved})
    return moved


def pickups_past_sweep() -> int:
    """Scheduled pickups whose day has passed (before the booking window's
    first day, yesterday in UTC, on the database's clock: the day cancel
    refuses as ``pickup_date_passed``) are ``past``: done or missed, which
    no carrier tells us. One with a cancel of ours in doubt, or at the
    carrier now, waits: only the carrier's answer settles it (the same job
    re-sends it first: ``pickup_cancel_retry.pickup_cancels_retry``). The number
    moved; each announced as ``pickup.past`` in the same transaction."""
    earliest, _latest = date_window(MAX_PICKUP_DAYS_AHEAD)
    now = database_now()
    unclaimed = Q(cancel_started_at__isnull=True) | Q(
        cancel_started_at__lt=now - CLAIM_LIFE
    )
    with transaction.atomic():
        # Locked, so no row is told twice; one locked elsewhere (a cancel
        # claiming it, another sweep) is skipped, never waited for: its
        # holder settles it, or the next run takes it.
        gone = list(
            Pickup.objects.select_for_update(of=("self",), skip_locked=True)
            .filter(
                unclaimed,
                status=PickupStatus.SCHEDULED,
                pickup_date__lt=earliest,
                cancel_requested_at__isnull=True,
            )
            .select_related("account")
            .order_by("pk")
        )
        moved = Pickup.objects.filter(pk__in=[p.pk for p in gone]).update(
            status=PickupStatus.PAST
        )
        held = _shipments_held([p.pk for p in gone])
        for pickup in gone:
            pickup.status = PickupStatus.PAST
            _announce(pickup, "pickup.past", held.get(pickup.pk, []))
    if moved:
        logger.info("pickups whose day passed marked past", extra={"count": moved})
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
    is weighed against it (``pickup_cancels._cancel_done``)."""
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
        locked.settled_at = database_now()
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
        announce_cancelled(pickup)  # in pickup_resolve's transaction
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
    _refuse_collected(found)
    return found


_MOVING = [str(s) for s in TrackingStatus if s not in NOT_MOVING]


def _refuse_collected(shipments: list[Shipment]) -> None:
    """InvalidState when the carrier has scanned a shipment in its network:
    a driver came for it (a ``past`` pickup done) or it was dropped off, and
    a pickup booked for it would send one for nothing, billed by some."""
    # A scan we could not read is no proof (shipment_has_moved counts it,
    # to refuse a void); a status past pre-transit, now or ever, is.
    moved = (
        Shipment.objects.filter(pk__in=[s.pk for s in shipments])
        .filter(
            ~Q(tracking_status__in=NOT_MOVING) | Q(tracking_events__status__in=_MOVING)
        )
        .values_list("public_id", flat=True)
        .first()
    )
    if moved:
        raise InvalidState(
            f"the carrier has shipment {moved} already (scanned in its "
            "network): it needs no pickup",
            code="already_collected",
            param="shipments",
        )


def _refuse_held(shipments: list[Shipment]) -> None:
    """InvalidState when a shipment is on a pickup that holds it: a second
    booking would send the carrier's driver twice; one whose booking is
    unknown is settled by staff first (pickup_resolve). Only while its day
    may come (as ``pickups_past_sweep`` reads it): a day gone sends no
    driver, whatever the pickup's status waits for (a cancel in doubt)."""
    earliest, _latest = date_window(MAX_PICKUP_DAYS_AHEAD)
    booked = (
        Pickup.objects.filter(
            status__in=_HOLDING, shipments__in=shipments, pickup_date__gte=earliest
        )
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
        service_codes=tuple(dict.fromkeys(s.service_code for s in shipments)),
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
            payload=pickup_payload(pickup),
            account=pickup.account,
        )


def _not_booked(pickup: Pickup) -> None:
    # The shop had a 202 unknown: it hears the end (once: only an unknown
    # pickup, locked, is settled).
    pickup.status = PickupStatus.FAILED
    pickup.failure_message = "staff found no booking at the carrier"
    pickup.save(update_fields=["status", "failure_message"])
    event_emit(
        name="pickup.failed",
        subject=pickup.public_id,
        payload=pickup_payload(pickup),
        account=pickup.account,
    )


def pickup_payload(
    pickup: Pickup, shipments: list[str] | None = None
) -> dict[str, object]:
    """Public (storefront_hooks.catalog): what the pickup API shows, no
    carrier text (failure_message stays with staff). ``shipments``: its
    shipments' ids, sorted, when read already (``_shipments_held``)."""
    if shipments is None:
        shipments = _shipments_held([pickup.pk]).get(pickup.pk, [])
    return {
        "pickup": pickup.public_id,
        "status": pickup.status,
        "confirmation_number": pickup.confirmation_number,
        "pickup_date": pickup.pickup_date.isoformat(),
        "shipments": shipments,
    }


def _shipments_held(pickup_pks: list[int]) -> dict[int, list[str]]:
    # Each pickup's shipment ids, sorted, in one query for any number.
    held: dict[int, list[str]] = {}
    links = (
        Pickup.shipments.through.objects.filter(pickup_id__in=pickup_pks)
        .order_by("shipment__public_id")
        .values_list("pickup_id", "shipment__public_id")
    )
    for pickup_pk, public_id in links:
        held.setdefault(pickup_pk, []).append(public_id)
    return held


def announce_cancelled(pickup: Pickup) -> None:
    _announce(pickup, "pickup.cancelled")


def _announce(pickup: Pickup, name: str, shipments: list[str] | None = None) -> None:
    event_emit(
        name=name,
        subject=pickup.public_id,
        payload=pickup_payload(pickup, shipments),
        account=pickup.account,
    )
