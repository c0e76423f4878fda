"""FedEx's tables: the error envelope (``transactionId``,
``errors[].code/message``) and codes as ours, tracking statuses, rated
variants, label specifications, and the readers of a track answer."""

from collections.abc import Mapping
from typing import Any

import requests

from integrations.errors import ProviderError, Rejected, Unknown
from integrations.webhooks.messages import iso_time
from shipping.providers.base import LabelFormat
from shipping.providers.carrier_common import location, to_status
from shipping.providers.carrier_errors import carrier_error_map, first_error
from shipping.providers.tracking_types import TrackingEvent

# FedEx error codes with a meaning of our own (any ``*.NOTFOUND`` too).
ERROR_CODES: Mapping[str, str] = {
    "TRACKING.TRACKINGNUMBER.NOTFOUND": "not_found",
    "NOT.FOUND.ERROR": "not_found",
}
AUTH_CODES = frozenset({"NOT.AUTHORIZED.ERROR", "UNAUTHORIZED"})
NOT_FOUND_SUFFIX = "NOTFOUND"

# Track API scan ``eventType`` -> our normalised status: the scan event codes
# of FedEx's Track service guide ("Tracking status codes").
# Pre-transit: the label's data only, or a courier not yet at the door. A
# code missing here is read as unknown: never followed, but it refuses a void
# (services.tracking.shipment_has_moved).
TRACKING_STATUS: Mapping[str, str] = {
    "OC": "pre_transit",  # shipment information sent to FedEx (order created)
    "IN": "pre_transit",  # initiated
    "DS": "pre_transit",  # vehicle dispatched (to the pickup)
    "EP": "pre_transit",  # enroute to pickup
    "DR": "pre_transit",  # vehicle furnished but not used
    "PD": "pre_transit",  # pickup delay
    "PU": "in_transit",
    "PX": "in_transit",  # picked up (see details)
    "LO": "in_transit",  # left FedEx origin facility
    "OF": "in_transit",  # at FedEx origin facility
    "IT": "in_transit",
    "IX": "in_transit",  # in transit (see details)
    "AR": "in_transit",
    "DP": "in_transit",
    "AF": "in_transit",
    "OW": "in_transit",
    "AA": "in_transit",
    "AC": "in_transit",  # at Canada Post facility
    "AD": "in_transit",
    "AO": "in_transit",  # shipment arriving on time
    "AP": "in_transit",
    "AX": "in_transit",  # at USPS facility
    "OX": "in_transit",  # shipment information sent to USPS (handed over)
    "CC": "in_transit",
    "CP": "in_transit",  # clearance in progress
    "BR": "in_transit",  # broker
    "CU": "in_transit",  # customs
    "CH": "in_transit",  # location changed
    "EA": "in_transit",  # enroute to airport
    "EO": "in_transit",  # enroute to origin airport
    "ED": "in_transit",  # enroute to delivery
    "FD": "in_transit",
    "HL": "in_transit",
    "HP": "in_transit",  # ready for recipient pickup
    "PF": "in_transit",
    "PL": "in_transit",
    "PM": "in_transit",  # in progress
    "SF": "in_transit",  # at sort facility
    "SP": "in_transit",  # split status
    "TR": "in_transit",  # transfer
    "OD": "out_for_delivery",
    "DL": "delivered",
    "DE": "exception",
    "SE": "exception",
    "CD": "exception",
    "DY": "exception",
    "DD": "exception",
    # Return-label links (an emailed return label's life): no parcel with
    # FedEx, and none coming back yet. RP is not a return: only RS is.
    "RP": "pre_transit",  # return label link emailed to return sender
    "LP": "pre_transit",  # return label link cancelled by shipment originator
    "RG": "pre_transit",  # return label link expiring soon
    "RD": "pre_transit",  # return label link expired
    "RS": "returned",  # return to shipper
    # The recipient's delivery-option requests (FedEx Delivery Manager), open
    # as soon as the label exists: no scan of the parcel.
    "RR": "pre_transit",  # delivery option requested
    "RM": "pre_transit",  # delivery option modified
    "RC": "pre_transit",  # delivery option cancelled
    # Shipment cancelled: the label is void at FedEx (ours landing, its answer
    # maybe lost), no parcel with it; never a reason to refuse our void.
    "CA": "pre_transit",
}
# Codes saying the label was voided at FedEx: CA, "Shipment cancelled".
VOIDED_CODES = frozenset({"CA"})


def _read(body: Any) -> tuple[str, str]:
    error = first_error(body, "errors")
    return str(error.get("code") or ""), str(error.get("message") or "")


fedex_error_map = carrier_error_map(
    _read, carrier="FedEx", codes=ERROR_CODES, auth_codes=AUTH_CODES
)

# rateType of the price the account pays, and of FedEx's published price.
ACCOUNT_RATE_TYPES = ("ACCOUNT", "PAYOR_ACCOUNT_SHIPMENT", "PAYOR_ACCOUNT_PACKAGE")
LIST_RATE_TYPES = ("LIST", "PAYOR_LIST_SHIPMENT", "PAYOR_LIST_PACKAGE")
# labelSpecification per format: FedEx's imageType and a 4x6 stock for it.
LABEL_SPECS: Mapping[LabelFormat, tuple[str, str]] = {
    LabelFormat.PDF: ("PDF", "PAPER_4X6"),
    LabelFormat.PNG: ("PNG", "PAPER_4X6"),
    LabelFormat.ZPL: ("ZPLII", "STOCK_4X6"),
}
# operationalDetail.transitTime: ONE_DAY, TWO_DAYS ... TWENTY_DAYS.
_NUMBERS = (
    *("ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE"),
    *("TEN", "ELEVEN", "TWELVE", "THIRTEEN", "FOURTEEN", "FIFTEEN", "SIXTEEN"),
    *("SEVENTEEN", "EIGHTEEN", "NINETEEN", "TWENTY"),
)
TRANSIT_DAYS: Mapping[str, int] = {
    f"{word}_DAY" if days == 1 else f"{word}_DAYS": days
    for days, word in enumerate(_NUMBERS, start=1)
}
SHIPMENT_PURPOSES = {
    "merchandise": "SOLD",
    "documents": "NOT_SOLD",
    "gift": "GIFT",
    "sample": "SAMPLE",
    "return": "REPAIR_AND_RETURN",
}


def pick_rated_variant(
    variants: list[Mapping[str, Any]], *, prefer_list: bool = False
) -> Mapping[str, Any] | None:
    """The price to quote among FedEx's rated variants of one service: the
    account's (negotiated) price, else the list price (or the other way round
    with ``prefer_list``). PREFERRED_* variants are the same prices converted
    into the preferred currency and are used only when nothing else came."""
    order = (LIST_RATE_TYPES, ACCOUNT_RATE_TYPES)
    if not prefer_list:
        order = order[::-1]
    by_type = {str(v.get("rateType")): v for v in variants if isinstance(v, Mapping)}
    for types in order:
        for rate_type in types:
            if rate_type in by_type:
                return by_type[rate_type]
    return next(iter(by_type.values()), None)


def actual_rate(rating: Mapping[str, Any]) -> Mapping[str, Any]:
    details = rating.get("shipmentRateDetails") or []
    actual = rating.get("actualRateType")
    return next(
        (d for d in details if d.get("rateType") == actual),
        details[0] if details else {},
    )


def track_error_map(response: requests.Response) -> ProviderError | None:
    """FedEx answers an unknown number inside a 200: its per-number ``error``
    is a not-found (so the call row says rejected), other errors as usual."""
    error = fedex_error_map(response)
    if error is not None or response.status_code != 200:
        return error
    try:
        result = track_result(response.json())
    except (ValueError, Unknown):
        return None
    code = str((result.get("error") or {}).get("code") or "")
    if code and not result.get("scanEvents"):
        message = str(result["error"].get("message") or "FedEx cannot track it")
        our_code = "not_found" if code.endswith(NOT_FOUND_SUFFIX) else "bad_request"
        return Rejected(message, code=our_code, http_status=200, provider_code=code)
    return None


def track_result(data: Any) -> Mapping[str, Any]:
    try:
        complete = data["output"]["completeTrackResults"][0]
        return complete["trackResults"][0]
    except (KeyError, IndexError, TypeError):
        raise Unknown(
            "FedEx answered without a track result", code="malformed_response"
        ) from None


def scan_event(scan: Mapping[str, Any]) -> TrackingEvent | None:
    occurred = iso_time(scan.get("date"))
    if occurred is None:
        return None
    # eventType is the scan's own code; derivedStatusCode a coarser status
    # derived from it (a pickup delay derived as a delay), read only without.
    code = str(scan.get("eventType") or scan.get("derivedStatusCode") or "")
    place = scan.get("scanLocation") or {}
    return TrackingEvent(
        status=to_status(TRACKING_STATUS.get(code)),
        occurred_at=occurred,
        carrier_status_code=code,
        description=str(
            scan.get("eventDescription") or scan.get("derivedStatus") or ""
        ),
        location=location(
            place.get("city"),
            place.get("stateOrProvinceCode"),
            place.get("countryCode"),
        ),
    )
