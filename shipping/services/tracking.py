"""Tracking: carrier events stored once, the shipment's status moved only
forward, outbox events for each change.

A carrier's answer (a poll or a webhook) is a ``TrackingInfo`` with its whole
history. Each event is stored once (``dedupe_key``: the same scan from a
webhook and a poll is one row). The shipment's status follows the newest event
it can follow; an event older than the one it already follows never moves it,
and once delivered or returned nothing does (a late ``in_transit`` never
undoes ``delivered``); a scan dated ahead of our clock is ordered as received
now. Where the carrier states the parcel's current status
(``TrackingInfo.status_stated``) and it differs from the status the events
give (no events yet, a delivered status whose scan is missing), the carrier's
word counts, dated to the answer's newest scan: an answer older than the scan
already followed, or an undated one once a scan was followed, is not heard,
nor on the same scans one over an earlier word; the delivery scan coming after
a stated delivery dates it. An ``unknown`` event (a code the adapter does not
map) is never followed, nor a ``pre_transit`` one once the parcel has moved:
every event is still stored in the history. Such an unread scan after the
label was made (less a clock-skew allowance) is still evidence the carrier may
have the parcel: a void is refused (``shipment_has_moved``); codes a carrier
documents as pre-shipment are mapped to ``pre_transit`` by its adapter, never
left unknown.
"""

import contextlib
import hashlib
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction

from integrations import registry
from integrations.clock import database_now
from integrations.errors import ProviderError
from integrations.events import event_emit
from integrations.models import ProviderAccount
from integrations.webhooks.messages import storable
from shipping.models import (
    LABEL_ANNOUNCED_STATUSES,
    Shipment,
    ShipmentStatus,
    TrackingEvent,
)
from shipping.providers.sandbox import SandboxShippingAdapter
from shipping.providers.tracking_types import (
    TrackingEvent as CarrierEvent,
)
from shipping.providers.tracking_types import (
    TrackingInfo,
    TrackingStatus,
    TrackRequest,
)
from shipping.tracking_links import recipient_email, tracking_url

logger = logging.getLogger(__name__)

# Statuses that do not say the carrier has the parcel: a label made, or a
# scan the adapter could not read.
FAILURE_CLEARED_EVENT = "shipment.failure_cleared"
NOT_MOVING = frozenset({TrackingStatus.PRE_TRANSIT, TrackingStatus.UNKNOWN})
# How far along the parcel is: on the same scans a second stated word may
# only move it on (in transit to out for delivery), never sideways or back.
_STAGE = {
    TrackingStatus.UNKNOWN: 0,
    TrackingStatus.PRE_TRANSIT: 0,
    TrackingStatus.IN_TRANSIT: 1,
    TrackingStatus.EXCEPTION: 1,
    TrackingStatus.OUT_FOR_DELIVERY: 2,
    TrackingStatus.DELIVERED: 3,
    TrackingStatus.RETURNED: 3,
}
# How far a carrier may date a scan behind our clock: a drifting clock, or a
# local time read as UTC (the Americas run 5-10 h behind; UTC-12 at most).
LABEL_CLOCK_SKEW = timedelta(hours=14)


def _dedupe_key(event: CarrierEvent) -> str:
    # The carrier's facts only, never our status: the same scan may read
    # otherwise later (a delivery after a return reads returned).
    return _key("scan", _key_time(event), event.carrier_status_code, event.description)


def _key_time(event: CarrierEvent) -> str:
    # In UTC: one instant written at two offsets (a local time with its
    # offset, or the GMT one) is one scan.
    return (event.key_at or event.occurred_at).astimezone(UTC).isoformat()


def _key(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _stored_as(event: CarrierEvent, known: dict[str, str]) -> str | None:
    """The status the scan was stored with, None if it never was: under its
    key, or under one of before, with the status it was read as then (any
    of ours), its time in UTC or, before keys were read by ``key_at`` in
    UTC, its ``occurred_at`` as the carrier wrote it."""
    stored = known.get(_dedupe_key(event))
    if stored is not None:
        return stored
    code, text = event.carrier_status_code, event.description
    for at in (_key_time(event), event.occurred_at.isoformat()):
        for status in TrackingStatus:
            stored = known.get(_key(at, str(status), code, text))
            if stored is not None:
                return stored
    return None


def _news(shipment: Shipment, events: list) -> tuple[list, list]:
    """Of ``events`` (in the answer's order), those that say something new:
    never stored, or stored but read now as another status (a code the
    table learnt since, a delivery after a return), which the status may
    follow; and of those, the ones never stored (no second row)."""
    # Unsorted: the listing order (Meta.ordering) costs a sort per poll.
    stored = shipment.tracking_events.order_by()
    known = dict(stored.values_list("dedupe_key", "status"))
    read = [(event, _stored_as(event, known)) for event in events]
    news = [event for event, was in read if was != event.status]
    return news, [event for event, was in read if was is None]


def _storable(event: CarrierEvent) -> CarrierEvent:
    # A polled scan's NUL stored as the webhook intake stores it (U+FFFD):
    # PostgreSQL refuses it, and the same scan by either way is one row.
    return replace(
        event,
        carrier_status_code=storable(event.carrier_status_code),
        description=storable(event.description),
        location=storable(event.location),
    )


def shipment_tracking_apply(*, shipment: Shipment, info: TrackingInfo) -> int:
    """Store the new events of ``info`` and move the status forward; returns
    how many events were new."""
    return _tracking_apply(shipment, info)[0]


def _tracking_apply(shipment: Shipment, info: TrackingInfo) -> tuple[int, bool]:
    # How many events were new, and whether the status moved (by a stated
    # status it may move with none).
    events = [_storable(event) for event in info.events]
    with transaction.atomic():
        locked = Shipment.objects.select_for_update().get(pk=shipment.pk)
        # One stamp for the batch: scans dated ahead list in the carrier's
        # order (TrackingEvent.Meta.ordering), as the status follows them.
        received = database_now()
        news, fresh = _news(locked, events)
        TrackingEvent.objects.bulk_create(
            # Newest first: a poll's ties list by descending id, the newest
            # last (TrackingEvent.Meta.ordering), as the status follows them.
            [
                TrackingEvent(
                    shipment=locked,
                    status=str(event.status),
                    carrier_status_code=event.carrier_status_code[:64],
                    description=event.description[:255],
                    location=event.location[:255],
                    occurred_at=event.occurred_at,
                    dedupe_key=_dedupe_key(event),
                    created_at=received,
                )
                for event in reversed(fresh)
            ],
            ignore_conflicts=True,
        )
        before = locked.tracking_status
        _move_forward(locked, events, news, received)
        if info.status_stated:
            _follow_stated(locked, info.status, events, received)
        _delivery_dated(locked, events, received)
        moved = locked.tracking_status != before
        locked.last_tracked_at = received
        if info.estimated_delivery:
            locked.estimated_delivery = info.estimated_delivery
        locked.save()
        if locked.status == ShipmentStatus.FAILED and _in_network(fresh):
            _not_bought_scanned(locked)
        # A label not announced yet (its file garbled): its scans are kept,
        # and go out with its shipment.label_created.
        if (fresh or moved) and locked.status in LABEL_ANNOUNCED_STATUSES:
            _emit(locked, moved)
    if (
        info.label_voided
        and locked.status == ShipmentStatus.PURCHASED
        and not _recycled_word(locked, info)
    ):
        # Imported here: voids reads this module (shipment_has_moved).
        from shipping.services.voids import shipment_voided_at_carrier

        shipment_voided_at_carrier(shipment=locked)
    shipment.refresh_from_db()
    return len(fresh), moved


def _recycled_word(shipment: Shipment, info: TrackingInfo) -> bool:
    # The carrier's newest scan dated before our label was made: its word
    # (a label voided) is a recycled number's previous use, not ours.
    newest = max((e.occurred_at for e in info.events), default=None)
    return newest is not None and newest < _label_made_at(shipment)


def _in_network(fresh: list) -> bool:
    return any(e.status not in NOT_MOVING for e in fresh)


def _not_bought_scanned(shipment: Shipment) -> None:
    """A label settled as not bought (its ids kept) that the carrier scans in
    its network was made after all: ``unknown`` again, so the sweep asks and
    staff settle it, unless its quote was bought again (the unique index
    says so): then a second label is live, and staff must void one."""
    reopened = False
    with contextlib.suppress(IntegrityError), transaction.atomic():
        Shipment.objects.filter(pk=shipment.pk).update(
            status=ShipmentStatus.UNKNOWN, failure_code="", failure_message=""
        )
        _failure_cleared(shipment)
        shipment.status = ShipmentStatus.UNKNOWN
        shipment.failure_code = shipment.failure_message = ""
        reopened = True
    logger.error(
        "carrier scans a label settled as not bought; settle it by hand"
        if reopened
        else "carrier scans a label settled as not bought; its quote was "
        "bought again: void one of the two",
        extra={"shipment_id": shipment.public_id, "carrier": shipment.carrier},
    )


def _failure_cleared(shipment: Shipment) -> None:
    """The failure that described the state left (staff's not bought) goes
    to the timeline, an internal event never sent out, not the shipment."""
    if not shipment.failure_code and not shipment.failure_message:
        return
    event_emit(
        name=FAILURE_CLEARED_EVENT,
        subject=shipment.public_id,
        payload={
            "shipment": shipment.public_id,
            "status": shipment.status,
            "failure_code": shipment.failure_code,
            "failure_message": shipment.failure_message,
        },
    )


def _followable(moving: bool, status: TrackingStatus) -> bool:
    # An unread scan says nothing, and a parcel once moving is never back to
    # a label waiting for pickup (a carrier resends "label created" on edits).
    if status == TrackingStatus.UNKNOWN:
        return False
    return status != TrackingStatus.PRE_TRANSIT or not moving


def _move_forward(shipment: Shipment, events: list, fresh: list, now: datetime) -> bool:
    """Follow the newest fresh event (or one stored already that reads as
    another status now) it may follow unless the status is final
    or the event is older than the one already followed, or the answer
    (``events``, oldest first) lists a stored one of the same second after
    it; True if it moved."""
    current = TrackingStatus(shipment.tracking_status)
    # Moving if it was, or if this batch (a poll's whole history) says so.
    moving = current not in NOT_MOVING or any(e.status not in NOT_MOVING for e in fresh)
    candidates = [e for e in fresh if _followable(moving, e.status)]
    if not candidates or current.is_terminal:
        return False
    # Ties (the same second, or taken as received now) keep the carrier's
    # order: of those, the last listed is the newest.
    newest = max(
        reversed(candidates),
        key=lambda e: (_bounded(e.occurred_at, now), e.occurred_at),
    )
    if _outranked(newest, events, moving):
        return False
    at = _bounded(newest.occurred_at, now)
    # One followed from a future date before this rule: as received when
    # last asked at the latest.
    followed = shipment.tracking_event_at
    if followed and at < _bounded(followed, shipment.last_tracked_at or now):
        return False
    moved = shipment.tracking_status != newest.status
    shipment.tracking_status = str(newest.status)
    shipment.tracking_event_at = at
    if newest.status == TrackingStatus.DELIVERED:
        shipment.delivered_at = at
    return moved


def _follow_stated(
    shipment: Shipment, stated: TrackingStatus, events: list, now: datetime
) -> None:
    """The carrier's own current status, when the events did not give it:
    it is at least as new as the answer's newest scan, so it is dated to that
    scan and heard if that scan is newer than the one followed; on the same
    scans (or none) only over the status those scans give, never over an
    earlier word (a webhook retried late would flip the parcel back), nor
    behind those scans' status unless it is an exception (``_lags``). An
    answer without scans once a scan was followed, unread, or pre-transit
    once moving: never."""
    current = TrackingStatus(shipment.tracking_status)
    moving = current not in NOT_MOVING or _in_network(events)
    if current.is_terminal or stated == current or not _followable(moving, stated):
        return
    answered = max((_bounded(e.occurred_at, now) for e in events), default=None)
    followed = shipment.tracking_event_at
    if followed is not None:
        if answered is None:
            return
        followed = _bounded(followed, shipment.last_tracked_at or now)
        if answered < followed:
            return
    if answered is None or answered == followed:
        given = _scans_status(events, moving, now)
        over_scans = current == given or (given is None and current in NOT_MOVING)
        if not over_scans and _STAGE[stated] <= _STAGE[current]:
            return
        if _lags(stated, given):
            return
    shipment.tracking_status = str(stated)
    if answered is not None:
        shipment.tracking_event_at = answered
    if stated == TrackingStatus.DELIVERED:
        # No scan dates the delivery: it happened by the time we were told.
        shipment.delivered_at = now


def _lags(stated: TrackingStatus, given: TrackingStatus | None) -> bool:
    # A word behind the same answer's scans (in transit over an out-for-
    # delivery scan: UPS's type I covers both) is no news; an exception is.
    if given is None or stated == TrackingStatus.EXCEPTION:
        return False
    return _STAGE[stated] < _STAGE[given]


def _scans_status(events: list, moving: bool, now: datetime) -> TrackingStatus | None:
    # The status the answer's scans give (its newest followable one), if any.
    candidates = [e for e in events if _followable(moving, e.status)]
    if not candidates:
        return None
    newest = max(
        reversed(candidates),
        key=lambda e: (_bounded(e.occurred_at, now), e.occurred_at),
    )
    return TrackingStatus(newest.status)


def _delivery_dated(shipment: Shipment, events: list, now: datetime) -> None:
    """A delivery told before its scan (``delivered_at`` when told, after the
    scan it was dated to) is dated by that scan once it comes: the first
    delivered scan between the two not followed by a scan of a parcel still
    moving (a misdelivery taken back). A delivery dated by its scan has no
    such gap and never moves."""
    told = shipment.delivered_at
    if shipment.tracking_status != TrackingStatus.DELIVERED or told is None:
        return
    since = shipment.tracking_event_at or _label_made_at(shipment)
    first = None
    for event in events:
        at = _bounded(event.occurred_at, now)
        if since <= at < told and event.status == TrackingStatus.DELIVERED:
            first = first or at
        elif since <= at < told and event.status not in NOT_MOVING:
            first = None
    if first is not None:
        shipment.delivered_at = shipment.tracking_event_at = first


def _outranked(newest: CarrierEvent, events: list, moving: bool) -> bool:
    """The answer lists after ``newest`` a scan of the same second it may
    follow, stored already: a later answer filling in an older scan of that
    second (Shippo's history catching up) never takes the status back."""
    after = events[len(events) - events[::-1].index(newest) :]
    return any(
        e.occurred_at == newest.occurred_at
        and e != newest
        and _followable(moving, e.status)
        for e in after
    )


def _bounded(at: datetime, now: datetime) -> datetime:
    """A scan's time for ordering: the carrier's, but never after ``now``,
    when we got it. One dated ahead (a drifting clock, a local time read as
    UTC) would hold every later real scan back until that date."""
    return min(at, now)


def shipment_has_moved(*, shipment: Shipment) -> bool:
    """The carrier has, or may have, the parcel: its status, or any scan ever
    stored, is past pre-transit (a status an earlier release moved back still
    counts), or a scan the adapter could not read came after the label."""
    if shipment.tracking_status not in NOT_MOVING:
        return True
    events = shipment.tracking_events
    if events.exclude(status__in=NOT_MOVING).exists():
        return True
    return events.filter(
        status=TrackingStatus.UNKNOWN, occurred_at__gte=_label_made_at(shipment)
    ).exists()


def _label_made_at(shipment: Shipment) -> datetime:
    """The earliest a carrier's clock may date the label: the buy less
    ``LABEL_CLOCK_SKEW``. A label-created scan earlier still is not ours but
    a recycled number's previous use, so it never moves this back."""
    return shipment.created_at - LABEL_CLOCK_SKEW


def tracking_announce_held(shipment: Shipment) -> None:
    """After ``shipment.label_created`` of a label announced late (its file
    was garbled): the scans held back meanwhile, as one update (and
    ``shipment.delivered``) where they moved the parcel."""
    if shipment.tracking_status not in NOT_MOVING:
        _emit(shipment, moved=True)


def _emit(shipment: Shipment, moved: bool) -> None:
    payload = {
        "shipment": shipment.public_id,
        "order_id": shipment.order_id,
        "tracking_number": shipment.tracking_number,
        "tracking_status": shipment.tracking_status,
        # What the shipping notice needs (notifications.wiring).
        "carrier": shipment.carrier,
        "customer_email": recipient_email(shipment.to_address),
        "tracking_url": tracking_url(shipment.carrier, shipment.tracking_number),
        "estimated_delivery": (
            shipment.estimated_delivery.isoformat()
            if shipment.estimated_delivery
            else None
        ),
    }
    account = shipment.account
    event_emit(
        name="shipment.tracking_updated",
        subject=shipment.public_id,
        payload=payload,
        account=account,
    )
    if moved and shipment.tracking_status == TrackingStatus.DELIVERED:
        event_emit(
            name="shipment.delivered",
            subject=shipment.public_id,
            payload=payload,
            account=account,
        )


def shipment_tracking_refresh(*, shipment: Shipment) -> int:
    """Ask the carrier (a poll); returns the number of new events."""
    return _tracking_refresh(shipment)[0]


def _tracking_refresh(shipment: Shipment) -> tuple[int, bool]:
    adapter = registry.get_adapter(shipment.account)
    info = adapter.track(
        TrackRequest(
            tracking_number=shipment.tracking_number,
            carrier_shipment_id=shipment.carrier_shipment_id,
            service_code=shipment.service_code,
        )
    )
    return _tracking_apply(shipment, info)


def shipments_due_for_tracking(*, limit: int = 500) -> list[Shipment]:
    """Bought, not yet delivered or returned, not asked about lately."""
    due = database_now() - timedelta(minutes=settings.SHIPPING_TRACKING_REFRESH_MINUTES)
    active = Shipment.objects.filter(status=ShipmentStatus.PURCHASED).exclude(
        tracking_status__in=[TrackingStatus.DELIVERED, TrackingStatus.RETURNED]
    )
    recent = active.filter(last_tracked_at__gte=due)
    return list(
        active.exclude(pk__in=recent.values("pk"))
        .exclude(tracking_number="")
        .select_related("account")
        .order_by("last_tracked_at", "pk")[:limit]
    )


def shipments_tracking_refresh(
    *,
    shipments: list[Shipment] | None = None,
    progress: Callable[[Shipment, str], None] | None = None,
) -> dict[str, int]:
    """Poll every shipment due (or ``shipments``); one carrier failing does
    not stop the rest. Returns counts: checked, updated (new events, or the
    status moved without any: a stated status), failed, events, and
    ``broken`` (of the failed: an account this deploy cannot call at all)."""
    chosen = shipments_due_for_tracking() if shipments is None else shipments
    counts = {"checked": 0, "updated": 0, "failed": 0, "events": 0, "broken": 0}
    for shipment in chosen:
        counts["checked"] += 1
        try:
            new, moved = _tracking_refresh(shipment)
        except (ProviderError, *registry.ACCOUNT_UNCALLABLE) as error:
            counts["failed"] += 1
            broken = not isinstance(error, ProviderError)
            counts["broken"] += int(broken)
            _tracking_failed(shipment, error, broken)
            outcome = "failed"
        else:
            counts["events"] += new
            changed = bool(new) or moved
            counts["updated"] += int(changed)
            outcome = "updated" if changed else "unchanged"
        if progress is not None:
            progress(shipment, outcome)
    return counts


def _tracking_failed(shipment: Shipment, error: Exception, broken: bool) -> None:
    # Asked all the same: it waits its turn instead of every run.
    Shipment.objects.filter(pk=shipment.pk).update(last_tracked_at=database_now())
    code = type(error).__name__ if broken else getattr(error, "code", "")
    logger.warning(
        "tracking account unusable" if broken else "tracking refresh failed",
        extra={"shipment_id": shipment.public_id, "code": code},
    )


def sandbox_tracking_announce() -> int:
    """Have every enabled sandbox carrier post the tracking webhooks its
    parcels' new scans call for (the demo's shipments move without a poll);
    returns how many webhooks will go."""
    posted = 0
    accounts = ProviderAccount.objects.filter(
        kind="shipping", provider="sandbox", enabled=True
    )
    for account in accounts:
        adapter = registry.get_adapter(account)
        if isinstance(adapter, SandboxShippingAdapter):
            posted += adapter.announce_tracking()
    if posted:
        logger.info("sandbox tracking announced", extra={"webhooks": posted})
    return posted
