"""Every change to stock, reservations, purchase orders and syncs.
Keyword-only, one job each; why stock is never oversold: docs/inventory.md."""

from inventory.services.apply import ApplyResult, stock_levels_apply
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
from inventory.services.forwarding import (
    hold_forward_run,
    hold_forwards_retry,
    hold_forwards_sweep,
    holding_accounts,
)
from inventory.services.levels import (
    LEVEL_CHANGED,
    OVERSOLD,
    available_units,
    expired_holds,
    levels_refresh,
    location_active_set,
    locations_lock,
    oversold_units,
    stock_level_threshold_set,
    stock_levels_erp_figure_stands,
    stock_state,
)
from inventory.services.purchase_audit import purchase_orders_currency_audit
from inventory.services.purchase_erp import (
    purchase_order_refresh,
    purchase_orders_refresh_open,
)
from inventory.services.purchase_found import purchase_order_found
from inventory.services.purchase_send import purchase_order_send
from inventory.services.purchasing import (
    available_by_sku,
    purchase_orders_draft,
    purchase_orders_unsent,
)
from inventory.services.reservations import LineRequest, reservation_create
from inventory.services.sync import (
    inventory_accounts,
    inventory_sync,
    inventory_syncs_schedule,
    known_skus,
    sync_run_continue,
    sync_run_execute,
    sync_run_queue,
    sync_run_start,
    sync_runs_resume,
)

__all__ = [
    "LEVEL_CHANGED",
    "OVERSOLD",
    "ApplyResult",
    "InsufficientStock",
    "InvalidReservation",
    "InvalidState",
    "InventoryError",
    "LineRequest",
    "available_by_sku",
    "available_units",
    "expired_holds",
    "hold_forward_run",
    "hold_forwards_retry",
    "hold_forwards_sweep",
    "holding_accounts",
    "inventory_accounts",
    "inventory_sync",
    "inventory_syncs_schedule",
    "known_skus",
    "levels_refresh",
    "location_active_set",
    "locations_lock",
    "oversold_units",
    "purchase_order_found",
    "purchase_order_refresh",
    "purchase_order_send",
    "purchase_orders_currency_audit",
    "purchase_orders_draft",
    "purchase_orders_refresh_open",
    "purchase_orders_unsent",
    "reservation_confirm",
    "reservation_create",
    "reservation_release",
    "reservations_confirm_for_order",
    "reservations_expire",
    "stock_level_threshold_set",
    "stock_levels_apply",
    "stock_levels_erp_figure_stands",
    "stock_state",
    "sync_run_continue",
    "sync_run_execute",
    "sync_run_queue",
    "sync_run_start",
    "sync_runs_resume",
]
