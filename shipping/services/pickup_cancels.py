"""Cancelling a booked pickup at its carrier: one cancel at a time (a claim on
the row), an earlier cancel that may have landed weighed against the
carrier's answer, and staff's settle (``pickups.pickup_resolve``) never
overwritten by a late answer. The hourly re-send of a cancel in doubt:
``pickup_cancel_retry``."""

import logging
from collections.abc import Callable
from datetime import datetime

from django.db import transaction

from integrations import registry
from integrations.client.fallback import UNREACHABLE_CODES
from integrations.clock import database_now
from integrations.errors import Outcome, ProviderError
from integrations.events import event_emit
from integrations.secrets_registry import staff_text
from shipping import codec
from shipping.models import Pickup, PickupStatus
from shipping.providers.base import PickupCancellation
from shipping.providers.validation import (
    MAX_PICKUP_DAYS_AHEAD,
    InvalidShippingRequest,
    date_window,
)
from shipping.services.claims import claim_release, claim_take
from shipping.services.errors import InvalidState, ShippingError
from shipping.services.pickups import announce_cancelled, pickup_payload

logger = logging.getLogger(__name__)


def pickup_cancel(
    *, pickup: Pickup, on_send: Callable[[], None] | None = None
) -> Pickup:
    """Cancel a scheduled pickup at the carrier; 409 ``cancel_in_progress``
    while another cancel of it is at the carrier. The carrier's success or
    "already cancelled" (adapter code ``already_cancelled``) ends it
    cancelled. After a try whose cancel went out and lost its answer, a
    refusal or "not found" does not tell whether ours landed or the pickup
    was done: it ends ``unknown`` with the carrier's answer, for staff
    (``pickup_resolve``). A success arriving after staff settled the pickup
    is not applied (409 ``pickup_changed``, ``_cancel_done``). Every try
    carries one key for the cancellation. ``on_send``: called as the cancel
    goes out, after the in-doubt mark (the sweep counts its try there)."""
    claim = None if pickup.status == PickupStatus.CANCELLED else _cancel_claim(pickup)
    if claim is None:
        return pickup  # cancelled already (maybe by a cancel running meanwhile)
    claimed_at = claim[0]
    told = pickup.failure_message  # as the caller read it
    try:
        _cancel_at_carrier(pickup, claim, on_send or (lambda: None))
    except AccountUnusable as error:
        if pickup.cancel_requested_at is not None:  # still in doubt: re-sent
            account_unusable(pickup, error.staff_detail, told)  # any sender's
        raise
    finally:
        claim_release(pickup, "cancel_started_at", claimed_at)
    return pickup


def _cancel_claim(pickup: Pickup) -> tuple[datetime, bool] | None:
    """Take the cancel for this call, and whether an earlier cancel of ours
    may have landed, both read from the row: a second cancel started
    meanwhile (a double click) is refused, so never reads our mark. None
    when the row is cancelled already."""
    now = database_now()
    with transaction.atomic():
        row = Pickup.objects.select_for_update().get(pk=pickup.pk)
        pickup.status, pickup.cancel_requested_at = row.status, row.cancel_requested_at
        # The booking cancelled is the one stored now (staff may have settled
        # it under another number since the caller loaded it).
        pickup.confirmation_number = row.confirmation_number
        pickup.location_code = row.location_code
        if row.status == PickupStatus.CANCELLED:
            return None
        if row.status == PickupStatus.PAST:
            raise _day_passed(row)
        if row.status != PickupStatus.SCHEDULED:
            raise InvalidState(f"a {row.status} pickup cannot be cancelled")
        _refuse_if_day_passed(row)
        if not claim_take(Pickup.objects.filter(pk=row.pk), "cancel_started_at", now):
            raise InvalidState(
                "a cancel of this pickup is already under way",
                code="cancel_in_progress",
            )
        pickup.cancel_started_at = now
    return now, row.cancel_requested_at is not None


def _refuse_if_day_passed(row: Pickup) -> None:
    """A pickup whose day is gone (``day_gone``) was done or missed:
    carriers cancel one only before it is done, so none is asked. A cancel
    of ours in doubt is retried all the same: only the carrier's answer
    tells whether it landed (``_cancel_not_done``)."""
    if row.cancel_requested_at is None and day_gone(row):
        raise _day_passed(row)


def day_gone(pickup: Pickup) -> bool:
    """Its day is before the days a pickup is booked for (yesterday in UTC
    is still today in the Americas): done or missed."""
    earliest, _latest = date_window(MAX_PICKUP_DAYS_AHEAD)
    return pickup.pickup_date < earliest


def _day_passed(row: Pickup) -> InvalidState:
    return InvalidState(
        f"the pickup's day {row.pickup_date.isoformat()} has passed: a past "
        "pickup cannot be cancelled; nothing was sent to the carrier",
        code="pickup_date_passed",
    )


def _cancel_at_carrier(
    pickup: Pickup, claim: tuple[datetime, bool], on_send: Callable[[], None]
) -> None:
    claimed_at, in_doubt = claim
    adapter = registry.get_adapter(pickup.account)
    marked: list[datetime] = []  # the in-doubt mark this call wrote, if any

    def going_out() -> None:
        _cancel_sent(pickup, marked)
        on_send()

    try:
        adapter.cancel_pickup(
            PickupCancellation(
                confirmation_number=pickup.confirmation_number,
                pickup_date=pickup.pickup_date,
                address=codec.address_from_json(pickup.address),
                location_code=pickup.location_code,
                idempotency_key=f"{pickup.public_id}-cancel",
                on_send=going_out,
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
            PickupStatus.PAST,  # its day passed while our cancel was out
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
    staff's settle clears it (``pickups._cancel_settled``)."""
    row.status = PickupStatus.CANCELLED
    row.cancel_requested_at, row.failure_message = None, ""
    row.save(update_fields=["status", "cancel_requested_at", "failure_message"])
    announce_cancelled(row)
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
            payload=pickup_payload(row),
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
            **pickup_payload(row),
            "cancelled_confirmation_number": cancelled,
        },
    )


def _cancel_sent(pickup: Pickup, marked: list[datetime]) -> None:
    """Our cancel request is about to go out: from here on it may land at
    the carrier whatever becomes of its answer (committed before the call).
    The instant is kept in ``marked`` only when this call wrote the mark."""
    if pickup.cancel_requested_at is None:
        now = database_now()
        unmarked = Pickup.objects.filter(pk=pickup.pk, cancel_requested_at__isnull=True)
        # A new doubt: the sweep's re-sends of it start afresh.
        fresh = {"cancel_retries": 0, "cancel_retry_at": None}
        if unmarked.update(cancel_requested_at=now, **fresh):
            pickup.cancel_requested_at = now
            marked.append(now)
    # Whoever sends it (the API, staff, the re-send job): its account can be
    # called again, so a reason ``account_unusable`` noted is stale now.
    reason = f"^({'|'.join(UNUSABLE_STARTS)})"
    noted = Pickup.objects.filter(pk=pickup.pk, failure_message__regex=reason)
    if noted.update(failure_message=""):
        pickup.failure_message = ""


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


class AccountUnusable(ShippingError):
    """The cancel was not done for a fault of its carrier account alone
    (``_account_fault``). Answered as any cancel not processed; staff told
    on the pickup while it is in doubt, whoever sent it (``pickup_cancel``)."""


# Codes of the account's own configuration (adapters and shared client):
# nothing could be sent until staff mend it. Not ``invalid_request``, a
# request the pickup's own data could not make (a header, a URL).
_ACCOUNT_SETUP = frozenset(
    {
        "missing_credentials",
        "missing_settings",
        "invalid_settings",
        "mode_mismatch",
        "credentials_unreadable",
    }
)
# The carrier refused our credentials (401, after the adapter's one token
# refresh, or 403): nothing was done with the cancel, whatever its doubt.
_CREDENTIALS_REFUSED = frozenset({"authentication_failed", "permission_denied"})


def _account_fault(error: ProviderError) -> bool:
    # Not processed only: one after a lost answer in the same call is unknown.
    return error.outcome == Outcome.NOT_PROCESSED and (
        error.code in _ACCOUNT_SETUP or error.code in _CREDENTIALS_REFUSED
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
    unusable = _account_fault(error)
    return (AccountUnusable if unusable else ShippingError)(
        _NOT_CANCELLED.get(error.outcome, "the carrier did not cancel the pickup"),
        code=f"carrier_{error.outcome}",
        status_code=502,
        staff_detail=carrier_text,
        nothing_sent=error.code in _ACCOUNT_SETUP or _not_reached(error),
    )


_NOT_CANCELLED = {
    Outcome.REJECTED: "the carrier refused to cancel the pickup",
    Outcome.UNKNOWN: "the carrier's answer to the cancel was lost; it may have "
    "landed: try the cancel again",
}


# The carrier not reached: the request never left (a bug before it did is
# still a try, so it cannot come back every hour for ever). The client's own
# refusals before sending too: its deadline passed (the run's time spent),
# its concurrency limit, its state store (Redis) unreadable.
_NOT_REACHED = UNREACHABLE_CODES | {
    "breaker_open",
    "rate_limited",
    "deadline_exceeded",
    "concurrency_limited",
    "store_unavailable",
}


def _not_reached(error: ProviderError) -> bool:
    return error.outcome == Outcome.NOT_PROCESSED and error.code in _NOT_REACHED


# True whether nothing goes out or the carrier refuses it hourly (401/403);
# told apart by its start, or the earlier words' (on rows noted before).
_UNUSABLE = (
    "our cancel in doubt cannot be done while its carrier account cannot be "
    "used (tried again each hour); mend the account: "
)
UNUSABLE_STARTS = ("our cancel in doubt cannot be done", "our cancel in doubt is not")


def account_unusable(pickup: Pickup, detail: str, told: str) -> None:
    """A fault of the account, not an outage nor the carrier's "no": nothing
    was done, so no try is spent (given back), and staff learn why now, not
    as "unknown" after the last try: on the pickup's page
    (``failure_message``) and in one ERROR, the first run this reason stops
    it (``told``: the reason the run read, as a refused cancel that went out
    cleared it). Re-sent an hour on until its day is gone (then left to
    staff: ``pickup_cancel_retry._unusable_given_up``): once the account is
    mended it goes out (any cancel going out clears the reason,
    ``_cancel_sent``)."""
    reason = f"{_UNUSABLE}{detail}"[:255]
    noted = (
        Pickup.objects.filter(
            pk=pickup.pk,
            status=PickupStatus.SCHEDULED,
            cancel_requested_at=pickup.cancel_requested_at,
        )
        .exclude(failure_message=reason)
        .update(failure_message=reason)
    )
    if noted:
        pickup.failure_message = reason
    if noted and told != reason:
        logger.error(
            "pickup cancel not re-sent: its carrier account cannot be used; mend it",
            extra={"pickup_id": pickup.public_id, "account": pickup.account.slug},
        )


# The re-send job's names, where callers and tests have long imported them
# (below: the job imports this module's own names).
from shipping.services.pickup_cancel_retry import (  # noqa: E402
    CANCEL_RETRIES,
    CANCEL_RETRY_WAIT,
    pickup_cancels_retry,
)

__all__ = [
    "CANCEL_RETRIES",
    "CANCEL_RETRY_WAIT",
    "AccountUnusable",
    "pickup_cancel",
    "pickup_cancels_retry",
]
