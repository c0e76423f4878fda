"""TradeGecko's answers read: an index's list, a record, ids (of events,
paths and requests) and a purchase order read back as our result."""

from collections.abc import Mapping
from typing import Any

from integrations.errors import Rejected, Unknown
from inventory.providers.base import PurchaseOrderResult, PurchaseOrderStatus

_S = PurchaseOrderStatus
PO_STATUSES: Mapping[str, PurchaseOrderStatus] = {
    "draft": _S.DRAFT,
    "active": _S.SENT,
    "received": _S.RECEIVED,
    "deleted": _S.CANCELLED,
    "void": _S.CANCELLED,
}


# TradeGecko's ids are positive 64-bit integers (a boolean is not one).
ID_MAX = 2**63 - 1


def variant_event_id(value: Any) -> int:
    """The variant a ``variant.*`` event names. One naming none it could be
    is ``malformed_event``: stored dead with this reason for staff, never
    processed as if nothing had changed."""
    if type(value) is not int or not 0 < value <= ID_MAX:
        raise Unknown(
            "variant event's object_id is not a TradeGecko variant id",
            code="malformed_event",
        )
    return value


def is_id(value: Any) -> bool:
    return type(value) is int and 0 < value <= ID_MAX


def wanted_skus(skus: tuple[str, ...]) -> frozenset[str]:
    """The SKUs a caller filters on; ``Rejected`` before any call when one
    is not a non-empty string (no SKU of ours is anything else)."""
    if not all(isinstance(sku, str) and sku for sku in skus):
        raise Rejected(
            "SKUs to filter on must be non-empty text", code="invalid_request"
        )
    return frozenset(skus)


def rows_of(data: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise Unknown(f"TradeGecko sent no {key} list", code="malformed_response")
    return value


def object_of(data: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise Unknown(f"TradeGecko sent no {key}", code="malformed_response")
    return value


def is_number(value: str) -> bool:
    # ASCII only: isdigit() also takes "²" (int() refuses it) and other
    # scripts' digits ("٣" would name company 3).
    return value.isascii() and value.isdigit()


def path_id(reference: str) -> str:
    if not is_number(reference):
        raise Rejected("TradeGecko ids are numbers", code="not_found")
    return reference


def numeric_id(value: str, what: str) -> int:
    # TradeGecko's ids are integers; anything else is refused before a call.
    if not is_number(value):
        raise Rejected(f"TradeGecko {what} ids are numbers", code="invalid_request")
    return int(value)


def order_result(order: Mapping[str, Any]) -> PurchaseOrderResult:
    status = order.get("status")
    if order.get("procurement_status") == "procured":
        status = "received"
    # Text only: a list or object would not even hash for the lookup.
    if (
        order.get("id") is None
        or not isinstance(status, str)
        or status not in PO_STATUSES
    ):
        raise Unknown(
            "TradeGecko sent a purchase order without id or status",
            code="malformed_response",
        )
    return PurchaseOrderResult(
        external_reference=str(order["id"]),
        status=PO_STATUSES[status],
        external_id=str(order.get("reference_number") or ""),
        raw_status=str(order.get("status")),
    )
