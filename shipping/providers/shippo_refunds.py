"""Shippo voids: a label is voided by refunding its transaction, one label
per request (Shippo's refunds guide; ``POST /refunds`` in
provider-specs/shippo/public-api.yaml). A multi-piece shipment has one
transaction per parcel: the other parcels' are refunded first, the
shipment's own last, so a refused parcel leaves the shipment's own label
(and the shipment) bought.

A refund Shippo refuses because one was already made (a retry after a lost
answer) counts as done: the transaction then says ``REFUNDED`` or
``REFUNDPENDING`` (``TransactionStatusEnum``)."""

import functools
from typing import TYPE_CHECKING

from integrations.errors import ProviderError, Rejected, Unknown
from integrations.providers.http import path_segment
from shipping.providers.base import LabelUpdate, VoidRequest, VoidResult
from shipping.providers.shippo_errors import REFUND_ACCEPTED

if TYPE_CHECKING:
    from shipping.providers.shippo import ShippoAdapter

# A transaction whose refund was made before (pending counts, as a refund
# answered QUEUED or PENDING counts as a void).
_REFUNDED = frozenset({"REFUNDED", "REFUNDPENDING"})
REFUND_REJECTED = "REFUNDREJECTED"
# Transaction states that tell a refund's fate (transaction_updated).
REFUND_STATES = _REFUNDED | {REFUND_REJECTED}


def void(adapter: "ShippoAdapter", request: VoidRequest) -> VoidResult:
    others = request.parcel_references
    done: list[str] = []
    for transaction in others:
        refunded, detail = _refund_kept(adapter, transaction, done)
        if not refunded:
            return VoidResult(
                voided=False,
                detail=f"{_count(done, others)}parcel label {transaction}: {detail}",
                voided_parcels=tuple(done),
            )
        done.append(transaction)
    refunded, detail = _refund_kept(adapter, request.carrier_shipment_id, done)
    if not refunded and others:
        detail = f"{_count(done, others)}the shipment's own label: {detail}"
    return VoidResult(voided=refunded, detail=detail, voided_parcels=tuple(done))


def _refund_kept(
    adapter: "ShippoAdapter", transaction: str, done: list[str]
) -> tuple[bool, str]:
    """``_refund``; once some parcels are refunded, a call that fails (a
    timeout, the breaker) ends the void as not done, keeping them, instead
    of losing which labels were refunded."""
    try:
        return _refund(adapter, transaction)
    except ProviderError as error:
        if not done:
            raise
        return False, f"{error.code}: {error.message}"


def _count(done: list[str], others: tuple[str, ...]) -> str:
    return f"{len(done)} of {len(others)} other parcel labels refunded; "


def _refund(adapter: "ShippoAdapter", transaction: str) -> tuple[bool, str]:
    """(refunded, Shippo's word on it)."""
    body = {"transaction": transaction, "async": False}
    try:
        refund = adapter.send(
            "POST", "/refunds", operation="shippo_void_label", json=body
        )
    except Rejected as error:
        refused = error.message
    else:
        status = str(refund.get("status") or "")
        if status in REFUND_ACCEPTED:
            return True, f"refund {status.lower()}"
        refused = f"refund {status.lower() or 'refused'}"
    if _already_refunded(adapter, transaction):
        return True, "refund already requested"
    return False, refused


def _already_refunded(adapter: "ShippoAdapter", transaction: str) -> bool:
    """The transaction says it was refunded before; False when it says
    otherwise, cannot be read or the answer is about another object (the
    refusal then stands)."""
    try:
        found = adapter.send(
            "GET",
            f"/transactions/{path_segment(transaction)}",
            operation="shippo_void_check",
        )
    except ProviderError:
        return False
    return found.get("object_id") == transaction and found.get("status") in _REFUNDED


def refund_update(
    adapter: "ShippoAdapter", transaction: str, reference: str, status: object
) -> LabelUpdate | None:
    """A transaction's refund state as a label update, read again from
    Shippo (``GET /transactions/{id}``) before it is applied; None when the
    status tells no refund's fate."""
    update = _refund_state(transaction, reference, status)
    if update is None:
        return None
    recheck = functools.partial(_refund_recheck, adapter, transaction, reference)
    return LabelUpdate(
        transaction,
        reference=reference,
        refunded=update.refunded,
        refund_rejected=update.refund_rejected,
        recheck=recheck,
    )


def _refund_state(
    transaction: str, reference: str, status: object
) -> LabelUpdate | None:
    if status in _REFUNDED:
        return LabelUpdate(transaction, reference=reference, refunded=True)
    if status == REFUND_REJECTED:
        return LabelUpdate(transaction, reference=reference, refund_rejected=True)
    return None


def _refund_recheck(
    adapter: "ShippoAdapter", transaction: str, reference: str
) -> LabelUpdate | None:
    """What the transaction says now. A failed read raises (the webhook is
    retried), as does an answer about another object (a proxy's or cache's
    mix-up tells nothing of ours); one Shippo does not know is no refund of
    ours."""
    found = adapter.none_if_not_found(
        lambda: adapter.send(
            "GET",
            f"/transactions/{path_segment(transaction)}",
            operation="shippo_refund_check",
        )
    )
    if found is None:
        return None
    if found.get("object_id") != transaction:
        raise Unknown(
            "Shippo answered the transaction check with another object",
            code="shippo_other_transaction",
        )
    return _refund_state(transaction, reference, found.get("status"))
