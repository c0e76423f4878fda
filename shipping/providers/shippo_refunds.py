"""Shippo voids: a label is voided by refunding its transaction, one label
per request (Shippo's refunds guide; ``POST /refunds`` in
provider-specs/shippo/public-api.yaml). A multi-piece shipment has one
transaction per parcel: the other parcels' are refunded first, the
shipment's own last, so a refused parcel leaves the shipment's own label
(and the shipment) bought.

A refund Shippo refuses because one was already made (a retry after a lost
answer) counts as done: the transaction then says ``REFUNDED`` or
``REFUNDPENDING`` (``TransactionStatusEnum``)."""

from typing import TYPE_CHECKING

import requests

from integrations.errors import Rejected
from shipping.providers.base import VoidRequest, VoidResult
from shipping.providers.shippo_errors import REFUND_ACCEPTED

if TYPE_CHECKING:
    from shipping.providers.shippo import ShippoAdapter

# A transaction whose refund was made before.
_REFUNDED = frozenset({"REFUNDED", "REFUNDPENDING"})


def void(adapter: "ShippoAdapter", request: VoidRequest) -> VoidResult:
    others = request.parcel_references
    for done, transaction in enumerate(others):
        refunded, detail = _refund(adapter, transaction)
        if not refunded:
            return VoidResult(
                voided=False,
                detail=f"{done} of {len(others)} other parcel labels refunded; "
                f"parcel label {transaction}: {detail}",
            )
    refunded, detail = _refund(adapter, request.carrier_shipment_id)
    return VoidResult(voided=refunded, detail=detail)


def _refund(adapter: "ShippoAdapter", transaction: str) -> tuple[bool, str]:
    """(refunded, Shippo's word on it)."""
    body = {"transaction": transaction, "async": False}
    try:
        refund = adapter.send(
            "POST", "/refunds", operation="shippo_void_label", json=body
        )
    except Rejected as error:
        if _already_refunded(adapter, transaction):
            return True, "refund already requested"
        return False, error.message
    status = str(refund.get("status") or "")
    if status in REFUND_ACCEPTED:
        return True, f"refund {status.lower()}"
    return False, f"refund {status.lower() or 'refused'}"


def _already_refunded(adapter: "ShippoAdapter", transaction: str) -> bool:
    found = adapter.none_if_not_found(
        lambda: adapter.send(
            "GET",
            f"/transactions/{requests.utils.quote(transaction, safe='')}",
            operation="shippo_void_check",
        )
    )
    return found is not None and found.get("status") in _REFUNDED
