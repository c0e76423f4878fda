"""UPS's tables: the error envelope (``response.errors[].code/message``) as
ours, service names, tracking statuses, and the readers of a track answer
(where a 200 may carry a "not found" warning)."""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import requests

from integrations.errors import ProviderError, Rejected
from shipping.providers.base import LabelFormat
from shipping.providers.carrier_common import location
from shipping.providers.carrier_errors import carrier_error_map, first_error
from shipping.providers.tracking_types import TrackingEvent, TrackingStatus

# 250002: Invalid Authentication Information (an expired or revoked token).
AUTH_CODES = frozenset({"250002"})
# Track API warning for a number UPS has no record of.
NOT_FOUND_WARNING = "TW0001"

# Rating.yaml ``Service.Code`` (domestic and international values).
SERVICE_NAMES: Mapping[str, str] = {
    "01": "UPS Next Day Air",
    "02": "UPS 2nd Day Air",
    "03": "UPS Ground",
    "12": "UPS 3 Day Select",
    "13": "UPS Next Day Air Saver",
    "14": "UPS Next Day Air Early",
    "59": "UPS 2nd Day Air A.M.",
    "75": "UPS Heavy Goods",
    "07": "UPS Worldwide Express",
    "08": "UPS Worldwide Expedited",
    "11": "UPS Standard",
    "54": "UPS Worldwide Express Plus",
    "65": "UPS Worldwide Saver",
    "96": "UPS Worldwide Express Freight",
    "71": "UPS Worldwide Express Freight Midday",
}
# LabelSpecification.LabelImageFormat.Code per format (UPS prints no PDF).
LABEL_CODES: Mapping[LabelFormat, str] = {
    LabelFormat.PNG: "PNG",
    LabelFormat.ZPL: "ZPL",
}
# Track API ``activity.status.type`` -> our status (UPS's status types).
STATUS_TYPES: Mapping[str, TrackingStatus] = {
    "M": TrackingStatus.PRE_TRANSIT,  # billing information received (label)
    "MV": TrackingStatus.PRE_TRANSIT,  # billing information voided
    # Not available: UPS has no status for the package, which is no scan
    # (a label UPS has not scanned stays voidable).
    "NA": TrackingStatus.PRE_TRANSIT,
    "P": TrackingStatus.IN_TRANSIT,
    "I": TrackingStatus.IN_TRANSIT,
    "W": TrackingStatus.IN_TRANSIT,  # warehousing (freight only)
    "O": TrackingStatus.OUT_FOR_DELIVERY,
    "D": TrackingStatus.DELIVERED,
    # Delivered origin / destination CFS (freight only): to a container
    # freight station on the way, not to the consignee; delivered is final.
    "DO": TrackingStatus.IN_TRANSIT,
    "DD": TrackingStatus.IN_TRANSIT,
    "X": TrackingStatus.EXCEPTION,
    "RS": TrackingStatus.RETURNED,
}
# UPS's wordings of out for delivery on an in-transit (I) activity, which
# has no type of its own ("Out For Delivery Today"; "Out For Delivery"),
# read whole: a note that only mentions it ("not out for delivery today")
# is not it.
OUT_FOR_DELIVERY_WORDINGS = frozenset({"OUT FOR DELIVERY TODAY", "OUT FOR DELIVERY"})


def _read(body: Any) -> tuple[str, str]:
    error = first_error(body, "response", "errors")
    return str(error.get("code") or ""), str(error.get("message") or "")


ups_error_map = carrier_error_map(_read, carrier="UPS", auth_codes=AUTH_CODES)


def track_error_map(response: requests.Response) -> ProviderError | None:
    """A 200 whose shipment has a "not found" warning and no package is a
    not-found (the call row says rejected), not an empty success."""
    error = ups_error_map(response)
    if error is not None or response.status_code != 200:
        return error
    try:
        shipment = track_shipment(response.json())
    except ValueError:
        return None
    warnings = [w for w in shipment.get("warnings") or [] if isinstance(w, Mapping)]
    if warnings and not shipment.get("package"):
        code = str(warnings[0].get("code") or "")
        message = str(warnings[0].get("message") or "UPS has no such parcel")
        missing = code == NOT_FOUND_WARNING or "not found" in message.lower()
        return Rejected(
            message,
            code="not_found" if missing else "bad_request",
            http_status=200,
            provider_code=code or None,
        )
    return None


def track_shipment(data: Any) -> Mapping[str, Any]:
    """``trackResponse.shipment[0]``, or {} when the answer has none."""
    shipments = ((data or {}).get("trackResponse") or {}).get("shipment") or []
    first = shipments[0] if shipments else {}
    return first if isinstance(first, Mapping) else {}


def track_package(data: Any, number: str) -> Mapping[str, Any]:
    """The package tracked as ``number`` in a Track answer, which lists the
    packages "associated with the inquiryNumber": the first when none is
    named so (one sent under a lead number), {} when there is none."""
    packages = [
        p for p in track_shipment(data).get("package") or [] if isinstance(p, Mapping)
    ]
    wanted = number.strip().upper()
    named = (
        p
        for p in packages
        if str(p.get("trackingNumber") or "").strip().upper() == wanted
    )
    return next(named, packages[0] if packages else {})


def activity_event(activity: Mapping[str, Any]) -> TrackingEvent | None:
    status = activity.get("status") or {}
    occurred = _activity_time(activity)
    if occurred is None:
        return None
    kind = str(status.get("type") or "")
    description = str(status.get("description") or "").strip()
    ours = _status_of(kind, description)
    address = (activity.get("location") or {}).get("address") or {}
    return TrackingEvent(
        status=ours,
        occurred_at=occurred,
        carrier_status_code=str(status.get("code") or kind),
        description=description,
        location=location(
            address.get("city"), address.get("stateProvince"), address.get("country")
        ),
    )


def current_status(package: Mapping[str, Any]) -> TrackingStatus | None:
    """The package's ``currentStatus`` (Tracking.yaml ``Status``, the shape
    of an activity's) as the carrier's stated status; None when UPS sent
    none or a type no table has (its scans still count)."""
    status = package.get("currentStatus")
    if not isinstance(status, Mapping):
        return None
    kind = str(status.get("type") or "")
    ours = _status_of(kind, str(status.get("description") or ""))
    return None if ours == TrackingStatus.UNKNOWN else ours


# Status types saying the label was voided at UPS: MV, "Billing
# Information Voided".
VOIDED_TYPES = frozenset({"MV"})


def voided_stated(package: Mapping[str, Any]) -> bool | None:
    """Whether the package's ``currentStatus`` is a voided type; None when
    UPS stated no type (its activities tell, by time)."""
    current = package.get("currentStatus")
    if not isinstance(current, Mapping) or not current.get("type"):
        return None
    return _voided(current)


def voided_events(package: Mapping[str, Any]) -> list[TrackingEvent]:
    """The events of the package's activities of a voided type."""
    activities = [a for a in package.get("activity") or [] if isinstance(a, Mapping)]
    events = [activity_event(a) for a in activities if _voided(a.get("status"))]
    return [event for event in events if event is not None]


def _voided(status: object) -> bool:
    kind = status.get("type") if isinstance(status, Mapping) else ""
    return str(kind or "").strip().upper() in VOIDED_TYPES


def _status_of(kind: str, description: str) -> TrackingStatus:
    # The type read as the wording is, whatever its case or padding (UPS
    # pads its fields: "DELIVERED ").
    kind = kind.strip().upper()
    # Out for delivery has no type of its own (I): only its wording tells it,
    # and only there; a D or X whose wording mentions it stays what it says.
    wording = " ".join(description.upper().split())
    if kind == "I" and wording in OUT_FOR_DELIVERY_WORDINGS:
        return TrackingStatus.OUT_FOR_DELIVERY
    return STATUS_TYPES.get(kind, TrackingStatus.UNKNOWN)


def _activity_time(activity: Mapping[str, Any]) -> datetime | None:
    # The GMT date and time when UPS sends both; else the local ones with
    # their gmtOffset (a parcel moving west is later in time, earlier on the
    # clock); with no offset, the local ones read as UTC. Never half a pair.
    if activity.get("gmtDate") and activity.get("gmtTime"):
        day, clock, offset = activity["gmtDate"], activity["gmtTime"], "+00:00"
    else:
        day, clock = activity.get("date"), activity.get("time")
        offset = str(activity.get("gmtOffset") or "").strip()
        if not clock:
            # A day without a time: its start (UTC+14's, the earliest, if no
            # offset came), so it never orders after a scan of its day and
            # never makes the status follow an older scan.
            clock, offset = "000000", offset or "+14:00"
        offset = offset or "+00:00"
    try:
        read = datetime.strptime(
            f"{day}{_hhmmss(str(clock))}{offset.strip()}", "%Y%m%d%H%M%S%z"
        )
        return read.astimezone(UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _hhmmss(clock: str) -> str:
    # '74700' (the spec's own example) is 07:47:00, '1630' is 16:30:00.
    digits = clock.replace(":", "").strip()
    if len(digits) % 2:
        digits = "0" + digits
    return f"{digits[:6]:0<6}"
