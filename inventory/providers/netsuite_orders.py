"""NetSuite purchase orders as records: the body we upsert, and an order
read back (its id and ``orderStatus``). docs/providers/inventory.md."""

from collections.abc import Mapping
from datetime import UTC
from decimal import Decimal
from typing import Any

from integrations.errors import Unknown
from integrations.providers.http import HttpAdapter
from inventory.providers.base import (
    PurchaseOrderRequest,
    PurchaseOrderResult,
    PurchaseOrderStatus,
)

# orderStatus codes of a purchase order (NetSuite's record browser).
_S = PurchaseOrderStatus
ORDER_STATUSES: Mapping[str, PurchaseOrderStatus] = {
    "A": _S.SENT,  # Pending Supervisor Approval
    "B": _S.CONFIRMED,  # Pending Receipt
    "C": _S.CANCELLED,  # Rejected by Supervisor
    "D": _S.CONFIRMED,  # Partially Received
    "E": _S.CONFIRMED,  # Pending Billing/Partially Received
    "F": _S.RECEIVED,  # Pending Bill
    "G": _S.RECEIVED,  # Fully Billed
    "H": _S.CANCELLED,  # Closed
}


def purchase_order_body(
    adapter: HttpAdapter,
    request: PurchaseOrderRequest,
    item_ids: dict[str, str],
    currency_id: str | None,
) -> dict[str, Any]:
    """The record. Each rate is a Decimal from its exact decimal text, written
    as a JSON number digit for digit (``exact_json_numbers``): money never
    passes through a float, and no text of the request is touched. The
    currency is set: left out, NetSuite reads the rates in the vendor's (None:
    the account has one currency, ``netsuite_currency``)."""
    lines = []
    for line in request.lines:
        entry: dict[str, Any] = {
            "item": {"id": item_ids[line.sku]},
            "quantity": line.quantity,
        }
        if line.unit_cost:
            rate = adapter.to_provider_decimal(line.unit_cost, request.currency)
            entry["rate"] = Decimal(rate)
        lines.append(entry)
    body: dict[str, Any] = {
        "externalId": request.external_id,
        "entity": {"id": request.supplier_code},
        "location": {"id": request.location_code},
        "item": {"items": lines},
    }
    if currency_id is not None:
        body["currency"] = {"id": currency_id}
    if request.memo:
        body["memo"] = request.memo[:999]
    if request.expected_at is not None:
        body["dueDate"] = request.expected_at.astimezone(UTC).date().isoformat()
    return body


def read_order(record: Mapping[str, Any]) -> PurchaseOrderResult:
    order_status = record.get("orderStatus")
    code = order_status.get("id") if isinstance(order_status, dict) else None
    reference = record.get("id")
    # Text only: a list or object would not even hash for the lookup.
    if not reference or not isinstance(code, str) or code not in ORDER_STATUSES:
        raise Unknown(
            "NetSuite sent a purchase order without id or status",
            code="malformed_response",
        )
    return PurchaseOrderResult(
        external_reference=str(reference),
        status=ORDER_STATUSES[code],
        external_id=str(record.get("externalId") or ""),
        raw_status=str(order_status.get("refName") or code),
    )
