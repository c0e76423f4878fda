"""Ending a reservation: release (its units are free again), expire (the
schedule's release of one past its time) and confirm (the order is paid: its
units leave on-hand). Each is idempotent: the status moves by a conditional
update under the stock rows' locks, so of two racing calls exactly one
moves the stock and the other sees the result."""

import logging
from datetime import datetime

from django.db import transaction
from django.db.models import F

from integrations.clock import database_now
from integrations.models import Event
from inventory.models import Reservation, ReservationStatus, StockLevel
from inventory.services.errors import InvalidState
from inventory.services.forwarding import holds_forward_close
from inventory.services.levels import expired_holds, levels_refresh
from inventory.services.reservations import locked_levels
from inventory.services.sold import sold_changes, sold_units

logger = logging.getLogger(__name__)

CLOSED = (
    ReservationStatus.RELEASED,
    ReservationStatus.EXPIRED,
    ReservationStatus.CONFIRMED,
)


def reservation_release(
    *, reservation: Reservation, now: datetime | None = None
) -> Reservation:
    """Free the units; releasing a released or expired one again is a no-op."""
    return _close(reservation, ReservationStatus.RELEASED, now or database_now())


def reservation_confirm(
    *, reservation: Reservation, now: datetime | None = None
) -> Reservation:
    """The order is paid: the units leave on-hand and reserved together.
    Confirming twice is a no-op; a released or expired one is refused. One
    past its time but not yet expired by the schedule is still confirmed (the
    money is taken); if others took its units meanwhile, the level is flagged
    oversold."""
    return _close(reservation, ReservationStatus.CONFIRMED, now or database_now())


def _close(reservation: Reservation, target: str, now: datetime) -> Reservation:
    lines = list(reservation.lines.all())
    with transaction.atomic():
        levels = locked_levels([line.stock_level_id for line in lines])
        moved = Reservation.objects.filter(
            pk=reservation.pk, status=ReservationStatus.ACTIVE
        ).update(status=target, closed_at=now)
        reservation.refresh_from_db()
        if not moved:
            return _already_closed(reservation, target)
        # The ERPs that hold it hear of it after this commits.
        sold = None
        if target == ReservationStatus.CONFIRMED:
            sold = sold_units(lines, levels)
        forwarded = holds_forward_close(
            reservation=reservation, status=target, sold=sold
        )
        for line in lines:
            level = levels[line.stock_level_id]
            changes = {"reserved": F("reserved") - line.quantity}
            level.reserved -= line.quantity
            if target == ReservationStatus.CONFIRMED:
                # Sold: off on-hand now, and kept off the ERP's figure until
                # the ERP shows it (a sync must not give the units back).
                changes["on_hand"] = F("on_hand") - line.quantity
                changes.update(sold_changes(level, line.quantity, forwarded, now))
                level.on_hand -= line.quantity
            StockLevel.objects.filter(pk=level.pk).update(**changes)
        levels_refresh(levels.values(), expired=expired_holds(levels, now))
    logger.info(
        "reservation closed",
        extra={"reservation": reservation.public_id, "status": target},
    )
    return reservation


def _already_closed(reservation: Reservation, target: str) -> Reservation:
    status = reservation.status
    if status == target:
        return reservation
    releasing = target in (ReservationStatus.RELEASED, ReservationStatus.EXPIRED)
    if releasing and status in (ReservationStatus.RELEASED, ReservationStatus.EXPIRED):
        return reservation
    raise InvalidState(
        f"The reservation is {status}; it cannot be {target}.",
        code=f"reservation_{status}",
    )


def reservations_expire(*, now: datetime | None = None, limit: int = 500) -> int:
    """Release for good the active reservations past their time (the
    schedule); returns how many this run expired. By the database's clock,
    which the reservations' times are stamped by, unless ``now`` is given."""
    now = now or database_now()
    due = Reservation.objects.filter(
        status=ReservationStatus.ACTIVE, expires_at__lte=now
    ).order_by("expires_at")[:limit]
    count = 0
    for reservation in due:
        try:
            closed = _close(reservation, ReservationStatus.EXPIRED, now)
        except InvalidState:
            # Confirmed (paid) between the read and the lock: it stays so,
            # and the reservations after it are still expired.
            continue
        count += closed.status == ReservationStatus.EXPIRED
    if count:
        logger.info("reservations expired", extra={"count": count})
    return count


def reservations_confirm_for_order(event: Event) -> None:
    """Outbox subscriber of ``payment.captured``: confirm the order's active
    reservations. Idempotent (delivery is at least once); a reservation that
    was already released or expired is left as it is, with a warning."""
    order_id = str(event.payload.get("order_id") or "")
    if not order_id:
        return
    for reservation in Reservation.objects.filter(order_id=order_id).exclude(
        status=ReservationStatus.CONFIRMED
    ):
        if reservation.status != ReservationStatus.ACTIVE:
            logger.warning(
                "captured order's reservation already closed",
                extra={
                    "reservation": reservation.public_id,
                    "status": reservation.status,
                },
            )
            continue
        try:
            reservation_confirm(reservation=reservation)
        except InvalidState:
            # Released or expired between the read and the lock.
            logger.warning(
                "captured order's reservation closed meanwhile",
                extra={"reservation": reservation.public_id},
            )
