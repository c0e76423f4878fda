"""Shippo's tables: its error bodies (``{"detail": ...}`` or field errors) as
ours, transaction and tracking statuses, and the readers of a track."""

from collections.abc import Mapping
from typing import Any

import requests

from integrations.errors import ProviderError, Rejected
from integrations.webhooks.messages import iso_time
from shipping.providers.base import LabelFormat
from shipping.providers.carrier_common import location
from shipping.providers.carrier_errors import carrier_error_map
from shipping.providers.tracking_types import TrackingEvent, TrackingStatus

# Transaction ``status``: the label is still being made, made, or refused.
PENDING_STATUSES = frozenset({"QUEUED", "WAITING"})
# Refund ``status`` values that mean the void was accepted.
REFUND_ACCEPTED = frozenset({"QUEUED", "PENDING", "SUCCESS"})
LABEL_FILE_TYPES: Mapping[LabelFormat, str] = {
    LabelFormat.PDF: "PDF_4x6",
    LabelFormat.PNG: "PNG",
    LabelFormat.ZPL: "ZPLII",
}
CONTENTS_TYPES: Mapping[str, str] = {
    "merchandise": "MERCHANDISE",
    "documents": "DOCUMENTS",
    "gift": "GIFT",
    "sample": "SAMPLE",
    "return": "RETURN_MERCHANDISE",
}
# Track ``status`` (TrackingStatusEnum) -> ours; substatus refines TRANSIT.
# Shippo's UNKNOWN is documented as "no tracking information from the
# carrier" (not found, or not yet scanned): nothing says the carrier has the
# parcel, so it is pre-transit. A status outside the enum is read as unknown,
# which refuses a void (services.tracking.shipment_has_moved).
TRACK_STATUSES: Mapping[str, TrackingStatus] = {
    "PRE_TRANSIT": TrackingStatus.PRE_TRANSIT,
    "TRANSIT": TrackingStatus.IN_TRANSIT,
    "DELIVERED": TrackingStatus.DELIVERED,
    "RETURNED": TrackingStatus.RETURNED,
    "FAILURE": TrackingStatus.EXCEPTION,
    "UNKNOWN": TrackingStatus.PRE_TRANSIT,
}


def _read(body: Any) -> tuple[str, str]:
    # DRF-style bodies: {"detail": "..."} or {"field": ["message"]} (nested).
    if not isinstance(body, Mapping) or not body:
        return "", ""
    if isinstance(body.get("detail"), str):
        return "", body["detail"]
    path, node = [], body
    while isinstance(node, Mapping) and node:
        key = next(iter(node))
        path.append(str(key))
        node = node[key]
    if isinstance(node, list) and node:
        node = node[0]
    return "", f"{'.'.join(path)}: {node}"


shippo_error_map = carrier_error_map(_read, carrier="Shippo")


def track_error_map(response: requests.Response) -> ProviderError | None:
    """Shippo answers a number it has never seen with a 200 whose track has
    no status and no history: a not-found, so the call row says rejected."""
    error = shippo_error_map(response)
    if error is not None or response.status_code != 200:
        return error
    try:
        track = response.json()
    except ValueError:
        return None
    if (
        isinstance(track, Mapping)
        and not track.get("tracking_status")
        and not track.get("tracking_history")
    ):
        return Rejected(
            "Shippo has no tracking for this number", code="not_found", http_status=200
        )
    return None


def _substatus(entry: Mapping[str, Any]) -> str:
    # An object by Shippo's schema; anything else is read as absent.
    sub = entry.get("substatus")
    return str(sub.get("code") or "") if isinstance(sub, Mapping) else ""


def track_status(entry: Mapping[str, Any]) -> TrackingStatus:
    ours = TRACK_STATUSES.get(str(entry.get("status")), TrackingStatus.UNKNOWN)
    substatus = _substatus(entry)
    if ours is TrackingStatus.IN_TRANSIT and substatus == "out_for_delivery":
        return TrackingStatus.OUT_FOR_DELIVERY
    return ours


def track_event(entry: Mapping[str, Any]) -> TrackingEvent | None:
    occurred = iso_time(entry.get("status_date"))
    if occurred is None:
        return None
    place = entry.get("location")
    place = place if isinstance(place, Mapping) else {}
    substatus = _substatus(entry)
    return TrackingEvent(
        status=track_status(entry),
        occurred_at=occurred,
        carrier_status_code=substatus or str(entry.get("status") or ""),
        description=str(entry.get("status_details") or ""),
        location=location(place.get("city"), place.get("state"), place.get("country")),
    )


def messages_text(transaction: Mapping[str, Any]) -> str:
    return "; ".join(
        str(m.get("text"))
        for m in transaction.get("messages") or []
        if isinstance(m, Mapping) and m.get("text")
    )
