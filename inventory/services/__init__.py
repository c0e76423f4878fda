"""Every change to stock, reservations, purchase orders and syncs.
Keyword-only, one job each; why stock is never oversold: docs/inventory.md."""

from inventory.services.closing import (
    reservation_confirm,
    reservation_release,
    reservations_confirm_for_order,
    reservations_expire,
)
from inventory.services.errors import (
    InsufficientStock,
    InvalidReservation,
    InvalidState,
    InventoryError,
)
from inventory.services.levels import (
    LEVEL_CHANGED,
    OVERSOLD,
    expired_holds,
    levels_refresh,
    stock_state,
)
from inventory.services.reservations import LineRequest, reservation_create

__all__ = [
    "LEVEL_CHANGED",
    "OVERSOLD",
    "InsufficientStock",
    "InvalidReservation",
    "InvalidState",
    "InventoryError",
    "LineRequest",
    "expired_holds",
    "levels_refresh",
    "reservation_confirm",
    "reservation_create",
    "reservation_release",
    "reservations_confirm_for_order",
    "reservations_expire",
    "stock_state",
]
