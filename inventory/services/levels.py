"""Availability of stock levels: what expired reservations no longer hold,
the state a level is in (in stock, low, out of stock, oversold), the
``inventory.level_changed`` / ``inventory.oversold`` events when it changes,
and staff's low threshold, which moves that state too."""

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime

from django.db import transaction
from django.db.models import Sum

from integrations.clock import database_now
from integrations.events import event_emit
from integrations.rows import lock_rows
from inventory.models import (
    Location,
    ReservationLine,
    ReservationStatus,
    StockLevel,
    StockState,
)
from inventory.services.errors import InventoryError

logger = logging.getLogger(__name__)

LEVEL_CHANGED = "inventory.level_changed"
OVERSOLD = "inventory.oversold"


def expired_holds(level_ids: Iterable[int], now: datetime) -> dict[int, int]:
    """Units per stock level still in ``reserved`` for reservations past their
    expiry: they stop counting at once, before the schedule releases them."""
    ids = list(level_ids)
    if not ids:
        return {}
    rows = (
        ReservationLine.objects.filter(
            stock_level_id__in=ids,
            reservation__status=ReservationStatus.ACTIVE,
            reservation__expires_at__lte=now,
        )
        .values("stock_level_id")
        .annotate(units=Sum("quantity"))
    )
    return {row["stock_level_id"]: row["units"] for row in rows}


def effective_reserved(level: StockLevel, expired: dict[int, int]) -> int:
    return level.reserved - expired.get(level.pk, 0)


def available_units(on_hand: int, reserved: int) -> int:
    """Units the storefront may sell: never below 0."""
    return max(0, on_hand - reserved)


def oversold_units(on_hand: int, reserved: int) -> int:
    """Our held units no unit on hand covers. An ERP's negative figure
    (NetSuite's "Allow Negative Inventory": fulfilled before received) is its
    own backlog, kept as it is, but counts as 0 units here: it oversells
    nothing of ours."""
    return max(0, reserved - max(on_hand, 0))


def stock_state(*, on_hand: int, reserved: int, low_threshold: int) -> StockState:
    available = max(on_hand, 0) - reserved
    if available < 0:
        return StockState.OVERSOLD
    if available == 0:
        return StockState.OUT_OF_STOCK
    if available <= low_threshold:
        return StockState.LOW
    return StockState.IN_STOCK


def level_state(level: StockLevel, expired: dict[int, int]) -> StockState:
    return stock_state(
        on_hand=level.on_hand,
        reserved=effective_reserved(level, expired),
        low_threshold=level.low_threshold,
    )


def levels_refresh(
    levels: Iterable[StockLevel], *, expired: dict[int, int]
) -> list[StockLevel]:
    """Store and announce the state of each level whose state changed; call
    it in the transaction that changed them (the events are an outbox).
    ``levels`` carry their new on-hand and reserved. Returns those changed."""
    moves = []
    for level in levels:
        new = level_state(level, expired)
        if new == level.state:
            continue
        moves.append((level, level.state))
        level.state = new
        StockLevel.objects.filter(pk=level.pk).update(state=new)
    levels_announce(moves, expired=expired)
    return [level for level, _ in moves]


def levels_announce(
    moves: list[tuple[StockLevel, str]], *, expired: dict[int, int]
) -> None:
    """``level_announce`` each (level, previous state), the locations'
    ``active`` read once, now: the levels are locked, so a location switched
    since they were read (``location_active_set`` locks them too) is seen
    as it now is."""
    if not moves:
        return
    ids = {level.location_id for level, _ in moves}
    selling = set(
        Location.objects.filter(pk__in=ids, active=True).values_list("pk", flat=True)
    )
    for level, previous in moves:
        level_announce(
            level,
            previous=previous,
            expired=expired,
            selling=level.location_id in selling,
        )


def level_announce(
    level: StockLevel, *, previous: str, expired: dict[int, int], selling: bool
) -> None:
    """Emit ``inventory.level_changed`` (and ``inventory.oversold``) for a
    level that moved from ``previous`` to ``level.state``. Not at a location
    that sells nothing (inactive): the storefront has it as out of stock
    until it is enabled (``location_active_set``). Oversold is told anyway:
    units already held there are short. ``selling``: its location is active
    (``levels_announce`` reads it)."""
    reserved = effective_reserved(level, expired)
    payload = {
        "sku": level.sku,
        "location": level.location.code,
        "state": level.state,
        "previous_state": previous,
        "on_hand": level.on_hand,
        "reserved": reserved,
        "available": available_units(level.on_hand, reserved),
        "oversold_by": oversold_units(level.on_hand, reserved),
    }
    if selling:
        event_emit(name=LEVEL_CHANGED, payload=payload, subject=level.sku)
    if level.state == StockState.OVERSOLD:
        event_emit(name=OVERSOLD, payload=payload, subject=level.sku)
        logger.warning(
            "stock level oversold",
            extra={"sku": level.sku, "oversold_by": payload["oversold_by"]},
        )


# What the storefront may sell from: a level in another state at a location
# switched on or off is announced as (or from) out of stock.
SELLING = (StockState.IN_STOCK, StockState.LOW)


def location_active_set(*, location_id: int, active: bool) -> Location:
    """Enable or disable a location (staff, in the admin) and tell the
    storefront: enabled, its levels with stock move from out of stock to
    their state; disabled, they move to out of stock (available 0). The
    levels are locked with the switch and their ``location_active`` written
    with it, so a reservation's take there (which checks that flag on the
    level row) waits for the switch and then sees it, and a sync or
    reservation applying one meanwhile announces it as the location now is."""
    with transaction.atomic():
        # FOR NO KEY UPDATE: a sync or reservation that holds a level here and
        # inserts a row referencing the location (its foreign key check takes
        # KEY SHARE) goes on, where FOR UPDATE made each wait for the other.
        # It waits for a sync page's FOR SHARE (``apply_pg``), which creates
        # levels here with the flag it reads, and makes the next one wait.
        location = (
            Location.objects.select_for_update(no_key=True)
            .filter(pk=location_id)
            .first()
        )
        if location is None:
            raise InventoryError("No such location.", code="not_found")
        if location.active == active:
            # Already so; but levels left with the other flag (a switch made
            # by a whole-row save) take nothing or too much: repair them.
            _flags_repair(location)
            return location
        location.active = active
        location.save(update_fields=["active"])
        ids = StockLevel.objects.filter(location=location).values_list("pk", flat=True)
        levels = lock_rows(StockLevel, list(ids), of=("self",))
        StockLevel.objects.filter(location=location).update(location_active=active)
        expired = expired_holds(levels, database_now())
        for level in levels.values():
            level.location, level.location_active = location, active
            _level_switched(level, active=active, expired=expired)
    logger.info(
        "location switched", extra={"location": location.code, "active": active}
    )
    return location


def _flags_repair(location: Location) -> None:
    """Set ``location_active`` on the location's levels that disagree with
    it, under their locks (the location's is held). Nothing is announced:
    ``level_announce`` has always gone by the location's own ``active``."""
    stale = StockLevel.objects.filter(location=location).exclude(
        location_active=location.active
    )
    ids = list(stale.values_list("pk", flat=True))
    if not ids:
        return
    lock_rows(StockLevel, ids, of=("self",))
    repaired = stale.filter(pk__in=ids).update(location_active=location.active)
    logger.warning(
        "location levels flag repaired",
        extra={"location": location.code, "levels": repaired},
    )


def locations_lock(active_by_id: Mapping[int, bool]) -> dict[int, Location]:
    """Lock, for a save of several locations in one transaction (staff's
    list), the locations (``FOR NO KEY UPDATE``, id order) and then, in one
    pk-ordered lock, the levels of those whose ``active`` differs from the
    one wanted (``active_by_id``: what the save may switch). That is the
    order every writer keeps (locations by id, then levels by pk): saved
    row by row in the list's order, each ``location_active_set`` locking
    its own levels, two switches held levels out of pk order against a
    checkout spanning both, and the rows out of id order against a sync
    page. Must run inside ``transaction.atomic()``; returns them by id."""
    locations = {
        location.pk: location
        for location in Location.objects.select_for_update(no_key=True)
        .filter(pk__in=list(active_by_id))
        .order_by("pk")
    }
    switching = [pk for pk, loc in locations.items() if loc.active != active_by_id[pk]]
    if switching:
        ids = StockLevel.objects.filter(location_id__in=switching).values_list(
            "pk", flat=True
        )
        lock_rows(StockLevel, list(ids), of=("self",))
    return locations


def _level_switched(level: StockLevel, *, active: bool, expired: dict) -> None:
    state = level_state(level, expired)
    if state != level.state:
        StockLevel.objects.filter(pk=level.pk).update(state=state)
        level.state = state
    if state not in SELLING:
        return
    reserved = effective_reserved(level, expired)
    payload = {
        "sku": level.sku,
        "location": level.location.code,
        "state": state if active else StockState.OUT_OF_STOCK,
        "previous_state": StockState.OUT_OF_STOCK if active else state,
        "on_hand": level.on_hand,
        "reserved": reserved,
        "available": available_units(level.on_hand, reserved) if active else 0,
        "oversold_by": 0,
    }
    event_emit(name=LEVEL_CHANGED, payload=payload, subject=level.sku)


def stock_level_threshold_set(*, level_id: int, low_threshold: int) -> StockLevel:
    """Staff's low threshold for a level. Written alone under the row's lock,
    so units a reservation holds meanwhile stay in ``reserved`` (a whole-row
    save would write back the figures read earlier); the state the new
    threshold puts the level in is stored and announced."""
    if low_threshold < 0:
        raise InventoryError(
            "low_threshold must be zero or more.",
            code="invalid_request",
            param="low_threshold",
        )
    with transaction.atomic():
        queryset = StockLevel.objects.select_related("location")
        level = lock_rows(queryset, [level_id], of=("self",))[level_id]
        level.low_threshold = low_threshold
        level.save(update_fields=["low_threshold", "updated_at"])
        levels_refresh([level], expired=expired_holds([level.pk], database_now()))
    logger.info(
        "stock level threshold set",
        extra={"sku": level.sku, "low_threshold": low_threshold, "state": level.state},
    )
    return level


def stock_levels_erp_figure_stands(
    *, seen: Mapping[int, tuple[int, datetime | None]]
) -> list[tuple[StockLevel, int]]:
    """Staff checked the ERP: its figure shows the units sold here that a
    level still holds off (``sold_unseen``; a receipt and the booking read
    in one figure look like no booking, and strand them). ``seen``: per
    level, the units staff were shown and ``sold_unseen_at`` then. Units
    sold since are not in the figure staff checked: a level whose time
    moved (a sale, or a give-back already: a second click) is left as it
    is. Each other level takes back at most the units shown, under its
    lock, its state stored and announced. Returns the levels and units."""
    given: list[tuple[StockLevel, int]] = []
    with transaction.atomic():
        queryset = StockLevel.objects.select_related("location")
        locked = lock_rows(queryset, sorted(seen), of=("self",))
        for level in locked.values():
            shown, at = seen[level.pk]
            units = min(shown, level.sold_unseen)
            if units <= 0 or level.sold_unseen_at != at:
                continue
            level.on_hand += units
            level.sold_unseen -= units
            if not level.sold_unseen:
                level.sold_unseen_at = None
            level.save(
                update_fields=["on_hand", "sold_unseen", "sold_unseen_at", "updated_at"]
            )
            given.append((level, units))
            logger.info(
                "stock level takes the ERP's figure",
                extra={"sku": level.sku, "units": units},
            )
        if given:
            changed = [level for level, _ in given]
            expired = expired_holds([level.pk for level in changed], database_now())
            levels_refresh(changed, expired=expired)
    return given
