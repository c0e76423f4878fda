"""Every state change of the shipping domain (keyword-only, typed)."""

from shipping.services.addresses import address_validate
from shipping.services.errors import (
    InvalidState,
    NotFound,
    QuoteExpired,
    ShippingError,
    public_refusal,
)
from shipping.services.label_sweep import (
    quotes_expired_delete,
    shipments_reconcile_unknown,
)
from shipping.services.label_updates import shipment_label_update_apply
from shipping.services.labels import (
    reconciliation_schedule,
    shipment_buy,
    shipment_reconcile,
)
from shipping.services.pickup_cancels import pickup_cancel
from shipping.services.pickups import pickup_resolve, pickup_schedule
from shipping.services.rates import (
    CarrierFailure,
    QuoteEntry,
    RateShopResult,
    rates_shop,
)
from shipping.services.tracking import (
    sandbox_tracking_announce,
    shipment_has_moved,
    shipment_tracking_apply,
    shipment_tracking_refresh,
    shipments_due_for_tracking,
    shipments_tracking_refresh,
)
from shipping.services.void_calls import no_void_reason
from shipping.services.voids import (
    shipment_refund_update_apply,
    shipment_void,
    shipment_void_refunded_apply,
    shipment_void_rejected_apply,
)

__all__ = [
    "CarrierFailure",
    "InvalidState",
    "NotFound",
    "QuoteEntry",
    "QuoteExpired",
    "RateShopResult",
    "ShippingError",
    "address_validate",
    "no_void_reason",
    "pickup_cancel",
    "pickup_resolve",
    "pickup_schedule",
    "public_refusal",
    "quotes_expired_delete",
    "rates_shop",
    "reconciliation_schedule",
    "sandbox_tracking_announce",
    "shipment_buy",
    "shipment_has_moved",
    "shipment_label_update_apply",
    "shipment_reconcile",
    "shipment_refund_update_apply",
    "shipment_tracking_apply",
    "shipment_tracking_refresh",
    "shipment_void",
    "shipment_void_refunded_apply",
    "shipment_void_rejected_apply",
    "shipments_due_for_tracking",
    "shipments_reconcile_unknown",
    "shipments_tracking_refresh",
]
