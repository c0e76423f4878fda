"""Shipping in the admin: shipments (with the compare-rates page, tracking
timeline, label download and void) and pickups."""

from shipping.admin.pickups import PickupAdmin
from shipping.admin.shipments import ShipmentAdmin

__all__ = ["PickupAdmin", "ShipmentAdmin"]
