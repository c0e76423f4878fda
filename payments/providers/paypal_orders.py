"""PayPal orders (Orders v2) as we read them: the purchase unit, its
payments, the ids we put on it (``PayPalAdapter.create_order``), and the
status an order or capture stands at in our terms."""

from collections.abc import Mapping
from typing import Any

from integrations.errors import ProviderError
from payments.providers.base import ProviderStatus
from payments.providers.paypal_errors import FAILED_STATUSES, decline

OPEN_AUTHORIZATION = ("CREATED", "PARTIALLY_CAPTURED")
REFUNDABLE_CAPTURE = ("COMPLETED", "PARTIALLY_REFUNDED")
CAPTURED_STATUSES = ("COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED")


def purchase_unit(order: Mapping[str, Any]) -> dict[str, Any]:
    units = order.get("purchase_units") or [{}]
    return units[0] or {}


def order_payments(order: Mapping[str, Any], kind: str) -> list[dict[str, Any]]:
    return list((purchase_unit(order).get("payments") or {}).get(kind) or [])


def latest(items: list[dict[str, Any]], statuses: tuple[str, ...]) -> dict | None:
    return next((i for i in reversed(items) if i.get("status") in statuses), None)


def our_order_id(order: Mapping[str, Any]) -> str:
    """Our whole order id: ``reference_id`` (256) of an order ``create_order``
    made, whose ``custom_id`` (127) is its start. "" for an order made
    without them (PayPal's ``default``): nothing names its order then."""
    unit = purchase_unit(order)
    reference = str(unit.get("reference_id") or "")
    custom = str(unit.get("custom_id") or "")
    return reference if custom and reference.startswith(custom) else ""


# What PayPal puts in ``reference_id`` when the order was made without one.
PAYPAL_DEFAULT_REFERENCE = "default"


def names_another_order(order: Mapping[str, Any], order_id: str) -> bool:
    """The purchase unit names an order id that is not ``order_id``: its
    ``reference_id`` (but PayPal's ``default``) or its ``custom_id``, each
    compared on as much of ``order_id`` as the field keeps (256, 127).
    False for an order made without them: nothing names an order then."""
    unit = purchase_unit(order)
    reference = str(unit.get("reference_id") or "")
    custom = str(unit.get("custom_id") or "")
    named = reference not in ("", PAYPAL_DEFAULT_REFERENCE)
    if named and reference != order_id[:256]:
        return True
    return bool(custom) and custom != order_id[:127]


def order_currency(order: Mapping[str, Any]) -> str:
    return str((purchase_unit(order).get("amount") or {}).get("currency_code", ""))


def link_id(resource: Mapping[str, Any], rel: str, collection: str) -> str:
    for link in resource.get("links") or []:
        href = str(link.get("href", ""))
        if link.get("rel") == rel and f"/{collection}/" in href:
            return href.rstrip("/").rsplit("/", 1)[-1]
    return ""


def capture_status(capture: Mapping[str, Any]) -> ProviderStatus:
    if capture.get("status") in CAPTURED_STATUSES:
        return ProviderStatus.CAPTURED
    return ProviderStatus.PENDING


def order_status(
    order: Mapping[str, Any],
    raw: str,
    captured: bool,
    authorization: Mapping[str, Any] | None,
) -> ProviderStatus:
    captures = order_payments(order, "captures")
    authorizations = order_payments(order, "authorizations")
    if captured:
        return ProviderStatus.CAPTURED
    if captures and captures[-1].get("status") == "PENDING":
        return ProviderStatus.PENDING
    if authorization is not None and authorization.get("status") != "CAPTURED":
        return ProviderStatus.AUTHORIZED
    if latest(authorizations, ("VOIDED",)) or order.get("status") == "VOIDED":
        return ProviderStatus.VOIDED
    if raw in FAILED_STATUSES:
        return ProviderStatus.FAILED
    if authorizations and authorizations[-1].get("status") == "PENDING":
        return ProviderStatus.PENDING
    if order.get("status") == "PAYER_ACTION_REQUIRED":
        return ProviderStatus.REQUIRES_ACTION
    return ProviderStatus.PENDING


def declined_in_order(order: dict[str, Any]) -> ProviderError | None:
    captures = order_payments(order, "captures")
    authorizations = order_payments(order, "authorizations")
    last = (captures or authorizations or [None])[-1]
    if last is not None and last.get("status") in FAILED_STATUSES:
        return decline(last)
    return None
