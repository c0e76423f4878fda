"""MyDHL API tables: its problem body (``title``, ``status``, ``detail``,
``additionalDetails``) as ours, checkpoint codes as our tracking statuses,
and the reader of one tracking event."""

import re
from collections.abc import Mapping
from typing import Any

import requests

from integrations.errors import ProviderError, Rejected
from integrations.webhooks.messages import iso_time
from shipping.providers.carrier_errors import carrier_error_map
from shipping.providers.tracking_types import TrackingEvent, TrackingStatus

# Checkpoint ``typeCode`` -> ours (codes absent here are movements: in transit).
CHECKPOINTS: Mapping[str, TrackingStatus] = {
    "SD": TrackingStatus.PRE_TRANSIT,  # shipment data received
    "OK": TrackingStatus.DELIVERED,
    "DD": TrackingStatus.DELIVERED,
    "WC": TrackingStatus.OUT_FOR_DELIVERY,  # with courier for delivery
    "RT": TrackingStatus.RETURNED,  # returned to consignor
    # Refused delivery: the receiver refused it; not back with the shipper
    # (that is RT), and a later attempt may still deliver it.
    "RD": TrackingStatus.EXCEPTION,
    "NH": TrackingStatus.EXCEPTION,  # not home
    "ND": TrackingStatus.EXCEPTION,  # not delivered
    "CM": TrackingStatus.EXCEPTION,  # customer moved
    "SS": TrackingStatus.EXCEPTION,  # shipment stopped
    "DS": TrackingStatus.EXCEPTION,  # destroyed / disposal
    "CA": TrackingStatus.EXCEPTION,  # closed on arrival
    "BA": TrackingStatus.EXCEPTION,  # bad address
    "MD": TrackingStatus.EXCEPTION,  # missed delivery cycle
    "OH": TrackingStatus.EXCEPTION,  # on hold
    "HP": TrackingStatus.EXCEPTION,  # held for payment
    "RR": TrackingStatus.EXCEPTION,  # response received (customs query)
}
# Top-level shipment ``status`` -> ours, when DHL states one.
SHIPMENT_STATUSES: Mapping[str, TrackingStatus] = {
    "pre-transit": TrackingStatus.PRE_TRANSIT,
    "transit": TrackingStatus.IN_TRANSIT,
    "delivered": TrackingStatus.DELIVERED,
    "failure": TrackingStatus.EXCEPTION,
    "returned": TrackingStatus.RETURNED,
}
EXPORT_REASONS: Mapping[str, str] = {
    "merchandise": "permanent",
    "documents": "permanent",
    "gift": "permanent",
    "sample": "permanent",
    "return": "return",
}


def _read(body: Any) -> tuple[str, str]:
    if not isinstance(body, Mapping):
        return "", ""
    details = body.get("additionalDetails") or []
    extra = "; ".join(str(d) for d in details if d) if isinstance(details, list) else ""
    message = str(body.get("detail") or body.get("message") or body.get("title") or "")
    return str(body.get("status") or ""), f"{message} ({extra})" if extra else message


dhl_error_map = carrier_error_map(_read, carrier="DHL Express")

# DELETE /pickups/{number} answers 400 "Pickup already cancelled or completed"
# (or wrong input) with no code of its own: only its detail tells them apart,
# and that documented text itself cannot (a completed pickup is not cancelled).
_ALREADY_CANCELLED = re.compile(r"already\s+(been\s+)?cancel", re.IGNORECASE)
_COMPLETED = re.compile(r"complet", re.IGNORECASE)


def pickup_cancel_error_map(response: requests.Response) -> ProviderError | None:
    """DHL's error, with a detail that says only "already cancelled" as
    ``already_cancelled`` ("cancelled or completed", a completed pickup or
    wrong input stays a refusal; 404 is not_found)."""
    error = dhl_error_map(response)
    if (
        isinstance(error, Rejected)
        and response.status_code == 400
        and _ALREADY_CANCELLED.search(error.message)
        and not _COMPLETED.search(error.message)
    ):
        return Rejected(
            error.message,
            code="already_cancelled",
            http_status=400,
            provider_code=error.provider_code,
        )
    return error


def checkpoint(event: Mapping[str, Any]) -> TrackingEvent | None:
    offset = str(event.get("GMTOffset") or "+00:00")
    occurred = iso_time(f"{event.get('date')}T{event.get('time')}{offset}")
    if occurred is None:
        return None
    code = str(event.get("typeCode") or "")
    areas = event.get("serviceArea") or []
    place = (
        areas[0].get("description") if areas and isinstance(areas[0], Mapping) else ""
    )
    return TrackingEvent(
        status=CHECKPOINTS.get(code, TrackingStatus.IN_TRANSIT),
        occurred_at=occurred,
        carrier_status_code=code,
        description=str(event.get("description") or ""),
        location=str(place or ""),
    )
