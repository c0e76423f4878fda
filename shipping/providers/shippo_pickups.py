"""Shippo pickups (``POST /pickups/``) wire shapes, from Shippo's OpenAPI spec
(provider-specs/shippo/public-api.yaml: ``PickupCreateRequest``, ``Location``,
``Pickup``). Shippo books pickups with USPS and DHL Express for labels bought
through it (its transactions) and documents no cancel: "To cancel a pickup,
you will need to contact the carrier directly"."""

from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone

from integrations.errors import ConfigurationError, Rejected, Unknown
from integrations.webhooks.messages import iso_time
from shipping.providers.base import Pickup, PickupRequest
from shipping.providers.validation import InvalidShippingRequest

PATH = "/pickups/"
# Location.building_location_type: "Other" needs the instructions.
DEFAULT_LOCATION_TYPE = "Front Door"


def pickup_body(
    request: PickupRequest,
    *,
    address: Callable[[Any], dict[str, Any]],
    zone_name: str,
) -> dict[str, Any]:
    """The request: Shippo's carrier account, the location, the transactions
    to collect and the window as date-times in the pickup's time zone."""
    if not request.carrier_shipment_ids:
        raise InvalidShippingRequest(
            "Shippo collects only labels bought through it: name the shipments",
            param="shipments",
        )
    if not request.carrier_account:
        raise InvalidShippingRequest(
            "The shipments name no Shippo carrier account", param="shipments"
        )
    location: dict[str, Any] = {
        "building_location_type": "Other"
        if request.instructions
        else DEFAULT_LOCATION_TYPE,
        # AddressBase fields, empty ones left out (shippo._address).
        "address": address(request.address),
    }
    if request.instructions:
        location["instructions"] = request.instructions
    zone = _zone(zone_name)
    return {
        "carrier_account": request.carrier_account,
        "location": location,
        "transactions": list(request.carrier_shipment_ids),
        "requested_start_time": _at(request.pickup_date, request.ready_time, zone),
        "requested_end_time": _at(request.pickup_date, request.close_time, zone),
        "metadata": request.idempotency_key[:100],
    }


def read_pickup(
    data: Mapping[str, Any], request: PickupRequest, *, zone_name: str
) -> Pickup:
    """CONFIRMED or PENDING: booked (the carrier's ``confirmation_code``, else
    Shippo's pickup id until the carrier confirms); ERROR: refused with
    Shippo's messages. The confirmed window (Shippo may answer in UTC) is
    read in the pickup's own zone."""
    status = str(data.get("status") or "")
    object_id = str(data.get("object_id") or "")
    if status in ("ERROR", "CANCELLED"):
        messages = "; ".join(str(m) for m in data.get("messages") or [])
        raise Rejected(
            messages or f"Shippo answered the pickup {status}", code="pickup_refused"
        )
    if status not in ("CONFIRMED", "PENDING") or not object_id:
        raise Unknown("Shippo answered without a pickup", code="malformed_response")
    zone = _zone(zone_name)
    start = _local(iso_time(data.get("confirmed_start_time")), zone)
    end = _local(iso_time(data.get("confirmed_end_time")), zone)
    return Pickup(
        confirmation_number=str(data.get("confirmation_code") or object_id),
        pickup_date=start.date() if start else request.pickup_date,
        ready_time=start.time() if start else request.ready_time,
        close_time=end.time() if end else request.close_time,
        location_code=object_id,  # Shippo's pickup id
    )


def _zone(name: str) -> ZoneInfo:
    if not name:
        return ZoneInfo(timezone.get_current_timezone_name())
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(
            "Shippo setting 'pickup_timezone' is not a time zone name",
            code="invalid_settings",
        ) from None


def _at(day: date, clock: time, zone: ZoneInfo) -> str:
    return datetime.combine(day, clock, tzinfo=zone).isoformat()


def _local(moment: datetime | None, zone: ZoneInfo) -> datetime | None:
    return None if moment is None else moment.astimezone(zone)
