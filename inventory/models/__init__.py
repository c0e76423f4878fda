"""Inventory models, one module per concern; public names re-exported here."""

from inventory.models.forwarding import (
    ForwardOperation,
    ForwardStatus,
    ReservationForward,
    ReservationForwardAttempt,
)
from inventory.models.purchasing import (
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderStatus,
    ReorderPoint,
    Supplier,
)
from inventory.models.sandbox import (
    SandboxErpHold,
    SandboxErpLevel,
    SandboxErpPurchaseOrder,
)
from inventory.models.stock import (
    Location,
    Reservation,
    ReservationLine,
    ReservationStatus,
    StockLevel,
    StockState,
)
from inventory.models.sync import SyncListedLevel, SyncRun, SyncStatus

__all__ = [
    "ForwardOperation",
    "ForwardStatus",
    "Location",
    "PurchaseOrder",
    "PurchaseOrderLine",
    "PurchaseOrderStatus",
    "ReorderPoint",
    "Reservation",
    "ReservationForward",
    "ReservationForwardAttempt",
    "ReservationLine",
    "ReservationStatus",
    "SandboxErpHold",
    "SandboxErpLevel",
    "SandboxErpPurchaseOrder",
    "StockLevel",
    "StockState",
    "Supplier",
    "SyncListedLevel",
    "SyncRun",
    "SyncStatus",
]
