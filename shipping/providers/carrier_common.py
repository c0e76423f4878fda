"""Small translations every carrier adapter needs the same way: labels
decoded from base64, events put in order, dates read, numbers written."""

import base64
import binascii
import re
from collections.abc import Collection, Iterable
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

from shipping.providers.tracking_types import (
    TrackingEvent,
    TrackingInfo,
    TrackingStatus,
)
from shipping.units import round_up

# A US ZIP+4 as buyers write it: "62704-1234", "62704 1234", "627041234".
ZIP_PLUS_4 = re.compile(r"(\d{5})[-\s]?(\d{4})")


def zip_parts(postcode: str) -> tuple[str, str]:
    """A ZIP+4's 5-digit ZIP and its 4 digits, for carriers with a field for
    each (USPS ZIPCode and ZIPPlus4); any other postcode whole, and ""."""
    match = ZIP_PLUS_4.fullmatch(postcode)
    return (match.group(1), match.group(2)) if match else (postcode, "")


def name_parts(name: str) -> tuple[str, str]:
    """A person's name as carriers with a field for each take it (USPS
    firstName and lastName): its first word and the rest; "" for the rest
    of a one-word name."""
    words = [*name.split(None, 1), "", ""]
    return words[0], words[1]


def fitting_state(
    country: str, state: str, required: Collection[str], longest: int, shortest: int = 1
) -> str:
    """A state as a carrier gets it: whole in the countries where it is
    ``required`` (a wrong length there is refused, not dropped); elsewhere it
    is optional, so one the field does not take (shorter than ``shortest``
    or longer than ``longest``) is left out rather than refused."""
    if country in required or shortest <= len(state) <= longest:
        return state
    return ""


def decode_label(encoded: object, *, carrier: str) -> bytes:
    """A label file the carrier sent as base64, line breaks allowed (MIME
    wraps it). None, empty or not base64: ``b""``, a file missing, so the
    base class keeps the label's ids and marks its file garbled
    (``answers.checked_files``): the label was made, never bought again."""
    if not isinstance(encoded, str) or not encoded:
        return b""
    try:
        return base64.b64decode("".join(encoded.split()), validate=True)
    except (binascii.Error, ValueError):
        return b""  # the base class's error names the carrier


# Codes in use that ISO 3166 has not assigned (pycountry knows none of them).
_OTHER_COUNTRIES = {"XK": "Kosovo"}


def country_name(code: str) -> str:
    """A country code's English name in plain ASCII ("Cote d'Ivoire"): ISO
    3166's common name where it gives one ("South Korea"), else its short
    name; "" when the code names no country."""
    import unicodedata

    import pycountry

    code = code.upper()
    country = pycountry.countries.get(alpha_2=code) if code else None
    if country is None:
        return _OTHER_COUNTRIES.get(code, "")
    name = str(getattr(country, "common_name", None) or country.name)
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore")
    return folded.decode()


def decimal_text(value: Decimal, places: int = 1) -> str:
    """A weight or length as the carrier reads it, rounded up to ``places``
    (carriers bill the next step), without trailing zeros: "2.5", "12"."""
    return format(round_up(value, places).normalize(), "f")


def location(*parts: object) -> str:
    """ "Memphis, TN, US" from whichever parts the carrier gave."""
    return ", ".join(str(p).strip() for p in parts if p and str(p).strip())


def read_date(value: object) -> date | None:
    """A date from ``2024-07-25``, ``2024-07-25T23:59:00`` or ``20240725``."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if len(text) == 8 and text.isdigit():
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    try:
        return datetime.fromisoformat(text[:10]).date()
    except ValueError:
        return None


def tracking_info(
    tracking_number: str,
    events: Iterable[TrackingEvent],
    *,
    newest_first: bool,
    estimated_delivery: date | None = None,
    signed_by: str = "",
    status: TrackingStatus | None = None,
    voided: Collection[TrackingEvent] = (),
    voided_stated: bool | None = None,
) -> TrackingInfo:
    """The events oldest first, scans dated to the same second too (in the
    order the carrier lists them: ``newest_first`` as UPS, FedEx, USPS and
    DHL Express do, or oldest first as Shippo's history); the status is the
    latest event's unless the carrier states one (``status_stated``).
    ``label_voided``: the carrier's stated word (``voided_stated``) when it
    gave one, else whether the newest event by time is one of ``voided``
    (those of ``events`` saying the label was voided at the carrier).
    Once a return to the shipper is scanned, a delivery (or out for
    delivery) after it is the parcel going back to the shipper: returned,
    never delivered to the customer (``_back_to_shipper``)."""
    sent = list(events)
    stated = status is not None
    chronological = reversed(sent) if newest_first else sent
    # A stable sort: ties stay in the carrier's order, the newest last.
    ordered = tuple(sorted(chronological, key=lambda event: event.occurred_at))
    if voided_stated is None:
        voided_stated = bool(ordered) and ordered[-1] in voided
    ordered = _back_to_shipper(ordered)
    if status is None:
        status = ordered[-1].status if ordered else TrackingStatus.UNKNOWN
    elif status in _TO_RECIPIENT and _returning(ordered):
        status = TrackingStatus.RETURNED
    return TrackingInfo(
        tracking_number=tracking_number,
        status=status,
        events=ordered,
        estimated_delivery=estimated_delivery,
        signed_by=signed_by,
        status_stated=stated,
        label_voided=voided_stated,
    )


# What a carrier says of a parcel on its way to (or at) the address it was
# sent to; after a return to the shipper, that address is the shipper's.
_TO_RECIPIENT = frozenset({TrackingStatus.OUT_FOR_DELIVERY, TrackingStatus.DELIVERED})


def _back_to_shipper(ordered: tuple[TrackingEvent, ...]) -> tuple[TrackingEvent, ...]:
    """The events (oldest first) with each delivery or out-for-delivery
    after a return scan read as returned: UPS's D after its RS, FedEx's DL
    after RS, DHL's OK after RT, USPS's 01 after 09, Shippo's DELIVERED after
    RETURNED are the parcel delivered back to the shipper."""
    read: list[TrackingEvent] = []
    for event in ordered:
        if event.status in _TO_RECIPIENT and _returning(read):
            event = replace(event, status=TrackingStatus.RETURNED)
        read.append(event)
    return tuple(read)


def _returning(events: Iterable[TrackingEvent]) -> bool:
    return any(event.status == TrackingStatus.RETURNED for event in events)


def to_status(value: str | None) -> TrackingStatus:
    """Our status from a table's answer; UNKNOWN for codes no table has."""
    return TrackingStatus(value) if value else TrackingStatus.UNKNOWN
