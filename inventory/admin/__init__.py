"""Inventory in the back office: stock, reservations, purchasing, syncs."""

from inventory.admin.purchasing import (
    PurchaseOrderAdmin,
    ReorderPointAdmin,
    SupplierAdmin,
)
from inventory.admin.stock import LocationAdmin, ReservationAdmin, StockLevelAdmin
from inventory.admin.sync import SyncRunAdmin

__all__ = [
    "LocationAdmin",
    "PurchaseOrderAdmin",
    "ReorderPointAdmin",
    "ReservationAdmin",
    "StockLevelAdmin",
    "SupplierAdmin",
    "SyncRunAdmin",
]
