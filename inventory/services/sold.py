"""Units sold here that the ERP's figure does not show yet.

Confirming a reservation takes its units off on-hand at once; the ERP's own
figure drops later (an ERP that keeps holds: when our confirm forward is
done; one that keeps none: when the shop's order reaches it by other
means). Until then a sync reads the old figure, so an ERP figure is applied
as ``figure - sold_unsent - sold_unseen`` (docs/inventory.md, "Units sold
but not yet in the ERP's figure"):

- ``sold_unsent``: confirmed, with a confirm forward to the level's ERP not
  yet done. Done moves them out and stamps ``erp_acked_at`` (and, when
  the ERP's answer gives its own time of it, ``erp_acked_modified_at``): a
  figure current as of earlier may not show that confirm, so it is not
  applied.
  From its first call until it ends, the ERP may take them off at any
  moment (``confirms_awaited``, ``erp_confirm_sent_at``): a figure current
  from then on may or may not show them, so it is not applied either.
- ``sold_unseen``: confirmed with no forward to carry them (the ERP keeps no
  holds). They are taken as shown by the first figure the ERP changed after
  them: stamped later than the level's stored ERP time (ERP clock against
  ERP clock) and than ``sold_unseen_at``.
"""

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Case, DateTimeField, F, Value, When
from django.db.models.functions import Coalesce, Greatest

from inventory.models import (
    ForwardStatus,
    ReservationForward,
    ReservationLine,
    StockLevel,
)
from inventory.providers.base import CLOCK_SKEW, FAR_FUTURE, StockLevelRecord

# After the ERP acknowledged a confirm without giving its own time of it,
# how long a webhook's level stamped ahead of its arrival is not applied: a
# fast ERP clock (kept as sent) makes an event computed before the
# acknowledgement look later than it. A sync page asked after the
# acknowledgement is applied meanwhile.
ACK_CLOCK_WINDOW = timedelta(hours=1)


def sold_changes(
    level: StockLevel, quantity: int, forwarded: Collection[int], now: datetime
) -> dict[str, Any]:
    """The update of a confirmed line's level, besides on-hand: its units
    wait for the confirm forward (``forwarded``: the accounts that get one)
    or, from an ERP told nothing, for the ERP's figure to move. A level no
    ERP supplies has no figure to wait for."""
    if level.source_id is None:
        return {}
    if level.source_id in forwarded:
        return {"sold_unsent": F("sold_unsent") + quantity}
    return {"sold_unseen": F("sold_unseen") + quantity, "sold_unseen_at": now}


def sold_units(
    lines: Iterable[ReservationLine], levels: Mapping[int, StockLevel]
) -> dict[int, dict[str, int]]:
    """A confirmed reservation's units by the source of their level, then by
    level (JSON keys): what each ERP's confirm forward carries."""
    units: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for line in lines:
        source_id = levels[line.stock_level_id].source_id
        if source_id is not None:
            units[source_id][str(line.stock_level_id)] += line.quantity
    return {source: dict(by_level) for source, by_level in units.items()}


def confirm_units(forward: ReservationForward) -> dict[int, int]:
    """The units ``forward`` (a confirm) carries, by level id. A row written
    before they were kept: its lines whose level the ERP still supplies."""
    if forward.sold_units is not None:
        return {int(level_id): units for level_id, units in forward.sold_units.items()}
    units: dict[int, int] = defaultdict(int)
    for level_id, quantity in ReservationLine.objects.filter(
        reservation_id=forward.reservation_id,
        stock_level__source_id=forward.account_id,
    ).values_list("stock_level_id", "quantity"):
        units[level_id] += quantity
    return dict(units)


def confirm_sending(units: Mapping[int, int], at: datetime) -> None:
    """The levels of a confirm about to be sent for the first time (or the
    first time after it was given up and sent again), inside the caller's
    transaction, committed before the call: from ``at`` the ERP may take the
    units off at any moment, so the levels' figures wait for its answer."""
    for level_id in sorted(units):  # pk order, like every writer of levels
        StockLevel.objects.filter(pk=level_id).update(
            confirms_awaited=F("confirms_awaited") + 1,
            erp_confirm_sent_at=Coalesce(
                F("erp_confirm_sent_at"), Value(at, output_field=DateTimeField())
            ),
        )


def sold_forward_ended(
    *,
    forward: ReservationForward,
    status: str,
    at: datetime,
    erp_at: datetime | None = None,
) -> None:
    """A confirm forward ended (call it in the transaction that ends it,
    before the forward row). Done: the ERP took the units off, which a
    figure read from ``at`` on shows, and a level it modified from
    ``erp_at`` on (its clock; None: its answer gave no time). Skipped (the
    ERP never held them):
    they wait like those of an ERP told nothing. Dead: they stay unsent
    (staff send it again). Either way its levels stop awaiting its answer."""
    awaited = forward.awaiting_since is not None
    units = confirm_units(forward)
    for level_id in sorted(units):  # pk order, like every writer of levels
        changes: dict[str, Any] = {}
        if status != ForwardStatus.DEAD:
            changes["sold_unsent"] = Greatest(F("sold_unsent") - units[level_id], 0)
        if status == ForwardStatus.DONE:
            changes["erp_acked_at"] = at
            changes["erp_acked_modified_at"] = _acked_erp_time(erp_at, at)
        elif status == ForwardStatus.SKIPPED:
            changes["sold_unseen"] = F("sold_unseen") + units[level_id]
            changes["sold_unseen_at"] = at
        if awaited:
            changes.update(_awaited_less_one())
        if changes:
            StockLevel.objects.filter(pk=level_id).update(**changes)
    forward.awaiting_since = None


def _acked_erp_time(erp_at: datetime | None, at: datetime) -> Any:
    """The level's ERP time of its acknowledgements after this one: the
    latest the ERP gave (acknowledgements may commit out of the ERP's
    order). None when this answer gave none, or one no clock error explains
    (``FAR_FUTURE`` past it: would hold back every event; as far before it:
    an unset default such as the epoch, would let an event computed before
    the confirm undo it): the bounded window applies then."""
    if erp_at is None or not at - FAR_FUTURE <= erp_at <= at + FAR_FUTURE:
        return None
    stamp = Value(erp_at, output_field=DateTimeField())
    return Greatest(Coalesce(F("erp_acked_modified_at"), stamp), stamp)


def _awaited_less_one() -> dict[str, Any]:
    # The stamp is the first send of a run of overlapping confirms: kept
    # until the last of them is answered.
    return {
        "confirms_awaited": Greatest(F("confirms_awaited") - 1, 0),
        "erp_confirm_sent_at": Case(
            When(confirms_awaited__lte=1, then=Value(None)),
            default=F("erp_confirm_sent_at"),
            output_field=DateTimeField(),
        ),
    }


def figure_stale(
    record: StockLevelRecord,
    as_of: datetime | None,
    acked_at: datetime | None,
    sent_at: datetime | None,
    answered_at: datetime | None = None,
    *,
    now: datetime,
    arrived_at: datetime | None = None,
    acked_erp_at: datetime | None = None,
) -> bool:
    """Whether ``record`` may not show the level's confirms as the stored
    counts assume. A sync page is current as of some moment between when it
    was asked for (``as_of``) and when its answer came (``answered_at``;
    None: ``as_of``), a webhook's level (``as_of`` None) as of its
    modification time. Stale when it may be current before the ERP last
    acknowledged one, or may be current after one sent from ``sent_at``
    that awaits its answer (the ERP may have taken its units off already:
    a page asked before the send but answered after it too). A webhook is
    compared with our send by its arrival, not the ERP's clock: none is
    applied while a confirm is awaited, nor one that arrived (``arrived_at``;
    None: ``now``) before the acknowledgement. Its time is the ERP's: when
    the ERP gave its own time of the acknowledgement (``acked_erp_at``),
    one modified before that is stale, clock against clock. Otherwise its
    clock may run ahead of ours: one within ``CLOCK_SKEW`` of the
    acknowledgement is stale, and so is one stamped further ahead of its
    arrival than that, arrived within ``ACK_CLOCK_WINDOW`` of it (its place
    cannot be told)."""
    latest = answered_at or as_of
    if sent_at is not None and (latest is None or latest >= sent_at):
        return True
    if acked_at is None:
        return False
    if as_of is not None:
        return as_of < acked_at
    arrived = arrived_at or now
    if arrived < acked_at:  # sent before the acknowledgement, whatever its clock
        return True
    current = record.modified_at
    if current is None:
        return False
    if acked_erp_at is not None:
        return current < acked_erp_at
    # By the ERP's clock, which may run up to CLOCK_SKEW ahead unremarked, or
    # further (its lead shown at arrival: a window after the acknowledgement).
    if current > arrived + CLOCK_SKEW:
        return arrived < acked_at + ACK_CLOCK_WINDOW
    return current < acked_at + CLOCK_SKEW


def unseen_kept(
    record: StockLevelRecord,
    *,
    on_hand: int,
    unsent: int,
    unseen: int,
    unseen_at: datetime | None,
    modified_at: datetime | None = None,
) -> int:
    """What stays of a level's ``sold_unseen`` once ``record`` is applied.
    Only a figure the ERP changed after those sales may show them: by the
    ERP's own clock, a modification time later than the level's stored one
    (``modified_at``: the latest figure read, which did not show them), and,
    for a clock like ours, later than the last sale (``unseen_at``); a clock
    running ahead passes that check but not the first, so an unchanged
    figure read again keeps them. Without both ERP times, or with the stored
    time unchanged (NetSuite's item time stays put when a fulfilment moves
    stock), any figure may. Such a figure shows at most its fall below the
    expected ``on_hand + unsent + unseen``: a rise (a goods receipt) shows
    none, so sold units are not sellable again before the ERP ships them."""
    if not unseen:
        return 0
    timed = record.modified_at is not None and modified_at is not None
    if timed and record.modified_at != modified_at:
        moved = record.modified_at > modified_at and (
            unseen_at is None or record.modified_at > unseen_at
        )
        if not moved:
            return unseen
    # A fall of the figure by n books at most n of them; a rise, none.
    fell = on_hand + unsent + unseen - record.on_hand
    return max(0, unseen - max(0, fell))


def off_sale_on_hand(on_hand: int) -> int:
    """On hand off sale: 0, or the backlog a level below 0 already had. The
    next figure is compared with on hand + unsent + unseen (``unseen_kept``):
    from 0 that sum is above a backlog's ERP figure, so the same figure
    again would book units the ERP has not shipped (sellable twice); from
    a level above 0 it is below the last figure and books fewer, never more."""
    return min(on_hand, 0)


__all__ = [
    "ACK_CLOCK_WINDOW",
    "confirm_sending",
    "confirm_units",
    "figure_stale",
    "off_sale_on_hand",
    "sold_changes",
    "sold_forward_ended",
    "sold_units",
    "unseen_kept",
]
