"""USPS v3 tables: the error envelope (``error.code/message/errors[]``) as
ours, tracking event codes and categories, label image types, and the reader
of the Labels API's multipart answer (JSON metadata plus the label)."""

import json
import re
from collections.abc import Mapping
from datetime import datetime
from email.parser import BytesParser
from email.policy import default as default_policy
from typing import Any

import requests

from integrations.errors import Unknown
from integrations.webhooks.messages import iso_time
from shipping.providers.base import LabelFormat
from shipping.providers.carrier_common import decode_label, location
from shipping.providers.carrier_errors import carrier_error_map, first_error
from shipping.providers.tracking_types import TrackingEvent, TrackingStatus

IMAGE_TYPES: Mapping[LabelFormat, str] = {
    LabelFormat.PDF: "PDF",
    LabelFormat.ZPL: "ZPL203DPI",
}
# Tracking ``eventCode`` (Pub 199 Appendix G-4 scan events) -> ours; codes
# absent here are movements.
_UNDELIVERED = {
    code: TrackingStatus.EXCEPTION
    for code in (
        # Delivery attempts: notice left, business closed, no access, ...
        *("02", "30", "51", "52", "53", "54", "55", "56"),
        # Undeliverable (the return to sender, 09, follows): refused, as
        # addressed, dead letter, no such number ... deceased, other, not
        # picked up.
        *("04", "05", "11", "21", "22", "23", "24", "25", "26", "27", "28"),
        *("29", "31"),
        # Delivery status not updated: no delivery scan, so not delivered.
        "DX",
    )
}
EVENT_CODES: Mapping[str, TrackingStatus] = {
    "GX": TrackingStatus.PRE_TRANSIT,  # label created, USPS awaiting item
    "MA": TrackingStatus.PRE_TRANSIT,  # electronic shipping info received
    # Only 01 is final. 17 ("Picked Up By Agent") and 43 ("Picked Up") stay
    # movements: no USPS text we found says the addressee got the item.
    "01": TrackingStatus.DELIVERED,
    "OF": TrackingStatus.OUT_FOR_DELIVERY,
    **_UNDELIVERED,
    "09": TrackingStatus.RETURNED,  # return to sender
    "RS": TrackingStatus.RETURNED,
}
STATUS_CATEGORIES: Mapping[str, TrackingStatus] = {
    "Pre-Shipment": TrackingStatus.PRE_TRANSIT,
    "Accepted": TrackingStatus.IN_TRANSIT,
    "In Transit": TrackingStatus.IN_TRANSIT,
    "Out for Delivery": TrackingStatus.OUT_FOR_DELIVERY,
    "Delivered": TrackingStatus.DELIVERED,
    "Alert": TrackingStatus.EXCEPTION,
    "Delivery Attempt": TrackingStatus.EXCEPTION,
    "Available for Pickup": TrackingStatus.IN_TRANSIT,  # held at a post office
    "Return to Sender": TrackingStatus.RETURNED,
}


def _read(body: Any) -> tuple[str, str]:
    error = (body or {}).get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return "", ""
    detail = first_error(error, "errors")
    code = str(detail.get("code") or error.get("code") or "")
    message = str(detail.get("detail") or error.get("message") or "")
    return code, message


# USPS's error inventory (USPS/api-examples, "API Error Consolidated List"):
# a cancel of a domestic label cancelled already is 400 "Order already
# canceled". Its international labels list no such code.
ALREADY_CANCELLED = "already_cancelled"
usps_error_map = carrier_error_map(
    _read, carrier="USPS", codes={"160186": ALREADY_CANCELLED}
)


def tracking_event(event: Mapping[str, Any]) -> TrackingEvent | None:
    occurred = _event_time(event)
    if occurred is None:
        return None
    code = str(event.get("eventCode") or "")
    return TrackingEvent(
        status=EVENT_CODES.get(code, TrackingStatus.IN_TRANSIT),
        occurred_at=occurred,
        carrier_status_code=code,
        description=str(event.get("eventType") or ""),
        location=location(
            event.get("eventCity"), event.get("eventState"), event.get("eventCountry")
        ),
        # The local time has no seconds: one scan by either clock, one key.
        key_at=occurred.replace(second=0, microsecond=0),
    )


# "-05:00" in USPS's answers, "-7:00" in its spec's example.
_OFFSET = re.compile(r"([+-])(\d{1,2}):?(\d{2})")


def _event_time(event: Mapping[str, Any]) -> datetime | None:
    """``GMTTimestamp`` when USPS sends it; else ``eventTimestamp``, the local
    clock (any zone written on it is not its own: the spec's example writes
    Z beside an offset of -7:00), at its ``GMTOffset``; with no offset it
    reads as UTC, as UPS's local times do."""
    occurred = iso_time(event.get("GMTTimestamp"))
    local = event.get("eventTimestamp")
    if occurred is not None or not isinstance(local, str):
        return occurred
    offset = _OFFSET.fullmatch(str(event.get("GMTOffset") or "").strip())
    try:
        wall = datetime.fromisoformat(local.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if offset is None:
        return iso_time(wall.isoformat() if wall.tzinfo else f"{wall.isoformat()}Z")
    sign, hours, minutes = offset.groups()
    zone = f"{sign}{int(hours):02d}:{minutes}"
    return iso_time(wall.replace(tzinfo=None).isoformat() + zone)


def label_parts(response: requests.Response) -> tuple[dict[str, Any], bytes]:
    """The ``labelMetadata`` JSON and the decoded ``labelImage`` of a Labels
    API answer (multipart/form-data, the image base64). A label bought but
    unreadable is ``Unknown``: nobody may buy a second one. An image missing,
    empty or not base64 is ``b""``: a missing file, the label's ids (in the
    metadata) kept by the base class (``answers.checked_files``)."""
    content_type = response.headers.get("Content-Type", "")
    raw = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
    message = BytesParser(policy=default_policy).parsebytes(raw + response.content)
    parts = {
        part.get_param("name", header="content-disposition"): part
        for part in message.iter_parts()
    }
    metadata, image = parts.get("labelMetadata"), parts.get("labelImage")
    if metadata is None:
        raise Unknown(
            "USPS sent a label answer without its metadata", code="malformed_response"
        )
    try:
        meta = json.loads(metadata.get_payload(decode=True) or b"{}")
    except ValueError:
        raise Unknown(
            "USPS sent a label answer we cannot read", code="malformed_response"
        ) from None
    if not isinstance(meta, dict):
        raise Unknown(
            "USPS sent a label answer we cannot read", code="malformed_response"
        )
    if image is None:
        return meta, b""
    return meta, _image(image.get_payload(decode=True) or b"")


def _image(payload: bytes) -> bytes:
    # USPS sends the image as base64 text; a part declared with a
    # Content-Transfer-Encoding arrives already decoded. Base64 has no %, ^
    # or ~: a PDF, or ZPL in either case (~ for an immediate command first).
    if payload[:1] in (b"%", b"^", b"~"):
        return payload
    return decode_label(payload.decode("latin-1"), carrier="USPS")
