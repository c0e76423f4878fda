"""Inventory models, one module per concern; public names re-exported here."""

from inventory.models.sandbox import (
    SandboxErpHold,
    SandboxErpLevel,
    SandboxErpPurchaseOrder,
)

__all__ = [
    "SandboxErpHold",
    "SandboxErpLevel",
    "SandboxErpPurchaseOrder",
]
