"""Reservations that never oversell.

Every change locks the stock levels it touches with ``lock_rows`` (one
``SELECT ... ORDER BY pk FOR UPDATE``), so racing reservations queue on the
rows they share and two multi-line reservations in opposite SKU order cannot
deadlock; the check and the write happen under that lock (no
check-then-write race). On SQLite the IMMEDIATE transaction serializes them.
The lock order is always the stock levels, then the reservation row; no
location is locked: units are taken only from a level whose
``location_active`` (its location's flag, written under the level's lock by
``location_active_set``) is true, checked under the level's lock.
"""

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F

from integrations.clock import database_now
from integrations.rows import lock_rows
from inventory.models import (
    Reservation,
    ReservationLine,
    StockLevel,
)
from inventory.services.errors import InsufficientStock, InvalidReservation
from inventory.services.fast import StaleLevel, fast_reserve_one, fast_take
from inventory.services.forwarding import (
    forwards_enqueue,
    holding_accounts,
    holds_forward_reserve,
)
from inventory.services.levels import (
    effective_reserved,
    expired_holds,
    levels_refresh,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LineRequest:
    sku: str
    quantity: int
    # Only this location; "" allocates across locations by priority.
    location_code: str = ""


def locked_levels(level_ids: Sequence[int]) -> dict[int, StockLevel]:
    """The stock levels, locked in pk order (inside ``transaction.atomic``);
    ``of=self`` so their locations are read, not locked."""
    queryset = StockLevel.objects.select_related("location")
    return lock_rows(queryset, level_ids, of=("self",))


def reservation_ttl(ttl_seconds: int | None) -> timedelta:
    if ttl_seconds is None:
        return timedelta(seconds=settings.INVENTORY_RESERVATION_TTL_SECONDS)
    low = settings.INVENTORY_RESERVATION_TTL_MIN_SECONDS
    high = settings.INVENTORY_RESERVATION_TTL_MAX_SECONDS
    if not low <= ttl_seconds <= high:
        raise InvalidReservation(
            f"ttl_seconds must be between {low} and {high}.", param="ttl_seconds"
        )
    return timedelta(seconds=ttl_seconds)


def _merged(lines: Sequence[LineRequest]) -> list[LineRequest]:
    if not lines:
        raise InvalidReservation(
            "A reservation needs at least one line.", param="lines"
        )
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for line in lines:
        if line.quantity <= 0 or not line.sku:
            raise InvalidReservation(
                "Every line needs a SKU and a positive quantity.", param="lines"
            )
        totals[(line.sku, line.location_code)] += line.quantity
    return [LineRequest(sku, qty, loc) for (sku, loc), qty in totals.items()]


def reservation_create(
    *,
    order_id: str,
    lines: Sequence[LineRequest],
    ttl_seconds: int | None = None,
    now: datetime | None = None,
) -> Reservation:
    """Reserve every line or nothing (``InsufficientStock`` names the first
    SKU that cannot be met and what is available of it), allocating each from
    active locations in priority order.

    First a fast path: allocate from a plain read, then take each level with
    a conditional ``UPDATE ... WHERE on_hand - reserved >= n`` (pk order), so
    the row lock is held only from that update to the commit (one level whose
    state does not move, on PostgreSQL: one autocommitted statement). If any level
    moved meanwhile (or the plain read says no), the locked path decides:
    ``lock_rows`` first, then allocate counting expired holds as free.
    """
    wanted = _merged(lines)
    ttl = reservation_ttl(ttl_seconds)
    if not order_id:
        raise InvalidReservation("order_id is required.", param="order_id")
    skus = sorted({line.sku for line in wanted})
    candidates = list(
        StockLevel.objects.filter(sku__in=skus, location__active=True).select_related(
            "location"
        )
    )
    try:
        plan = _allocate(wanted, candidates, {})
        reservation = _one_statement(order_id, ttl, now, plan)
        if reservation is None:
            # The database's clock, which every sweeper and reader of
            # expires_at compares it with, whatever this process's clock says
            # (the one statement reads it in its own SQL: no round trip).
            now = now or database_now()
            expires_at = now + ttl
            with transaction.atomic():
                reservation = _create(order_id, expires_at, now, plan)
                fast_take(plan, now)
                holds_forward_reserve(
                    reservation=reservation, levels=[level for level, _ in plan]
                )
    except (InsufficientStock, StaleLevel):
        now = now or database_now()
        reservation, plan = _locked_create(order_id, now + ttl, now, wanted, candidates)
    logger.info(
        "reservation created",
        extra={"reservation": reservation.public_id, "lines": len(plan)},
    )
    return reservation


def _locked_create(
    order_id: str,
    expires_at: datetime,
    now: datetime,
    wanted: list[LineRequest],
    candidates: list[StockLevel],
) -> tuple[Reservation, list[tuple[StockLevel, int]]]:
    """The locked path: the levels locked in pk order, expired holds counted
    as free, the allocation decided under the lock."""
    with transaction.atomic():
        locked = locked_levels([level.pk for level in candidates])
        # Read under the lock: a location switched off since the plain read
        # (or while this waited for the switch) sells nothing.
        levels = {pk: level for pk, level in locked.items() if level.location_active}
        expired = expired_holds(levels, now)
        plan = _allocate(wanted, list(levels.values()), expired)
        reservation = _create(order_id, expires_at, now, plan)
        for level, quantity in plan:
            StockLevel.objects.filter(pk=level.pk).update(
                reserved=F("reserved") + quantity
            )
            level.reserved += quantity
        levels_refresh([level for level, _ in plan], expired=expired)
        holds_forward_reserve(
            reservation=reservation, levels=[level for level, _ in plan]
        )
    return reservation, plan


def _one_statement(
    order_id: str,
    ttl: timedelta,
    now: datetime | None,
    plan: list[tuple[StockLevel, int]],
) -> Reservation | None:
    """The one-level reservation in a single statement (PostgreSQL only:
    SQLite has no writing CTEs), stamped ``now`` or the statement's own
    time; None when it must take the longer path."""
    if len(plan) != 1 or connection.vendor != "postgresql":
        return None
    (level, quantity) = plan[0]
    sources = [level.source_id] if level.source_id else []
    made = fast_reserve_one(
        order_id=order_id,
        ttl=ttl,
        now=now,
        level=level,
        quantity=quantity,
        forward_to=[account.pk for account in holding_accounts(sources)],
    )
    if made is None:
        return None
    reservation, forward_ids = made
    forwards_enqueue(forward_ids)  # committed with the reservation already
    return reservation


def _create(
    order_id: str,
    expires_at: datetime,
    now: datetime,
    plan: list[tuple[StockLevel, int]],
) -> Reservation:
    reservation = Reservation.objects.create(
        order_id=order_id, expires_at=expires_at, created_at=now
    )
    ReservationLine.objects.bulk_create(
        ReservationLine(
            reservation=reservation,
            stock_level_id=level.pk,
            sku=level.sku,
            location_id=level.location_id,
            quantity=quantity,
        )
        for level, quantity in plan
    )
    return reservation


def _allocate(
    wanted: list[LineRequest], levels: list[StockLevel], expired: dict[int, int]
) -> list[tuple[StockLevel, int]]:
    """(level, units) per allocation; raises before anything is written."""
    free = {
        level.pk: level.on_hand - effective_reserved(level, expired) for level in levels
    }
    by_priority = sorted(levels, key=lambda x: (x.location.priority, x.location.code))
    taken: dict[int, int] = defaultdict(int)
    # Lines pinned to a location first: a free line of the same SKU, served
    # from any location, must not take the only units a pinned line can use.
    for line in sorted(
        wanted, key=lambda x: (x.sku, not x.location_code, x.location_code)
    ):
        eligible = [
            level
            for level in by_priority
            if level.sku == line.sku and line.location_code in ("", level.location.code)
        ]
        available = sum(max(0, free[level.pk]) for level in eligible)
        if available < line.quantity:
            raise InsufficientStock(
                sku=line.sku, requested=line.quantity, available=available
            )
        remaining = line.quantity
        for level in eligible:
            units = min(remaining, max(0, free[level.pk]))
            if units:
                free[level.pk] -= units
                taken[level.pk] += units
                remaining -= units
    by_pk = {level.pk: level for level in levels}
    return [(by_pk[pk], units) for pk, units in sorted(taken.items())]
