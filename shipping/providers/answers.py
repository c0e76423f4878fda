"""A carrier's answer checked before it is stored.

A string longer than its column, or carrying a control character (a NUL,
which PostgreSQL refuses in text), would fail the save: a 500 and a shipment
left ``purchasing``, a pickup left ``requested``. The carrier may have acted
on the request (a label bought, a pickup booked), so such an answer is
``Unknown(malformed_response)``: the shipment or pickup is left ``unknown``
for staff to settle, as for any answer we cannot read.

A label file (bought, polled or fetched for a webhook) that is not a whole
file of its declared format is ``GarbledLabelFile``, an ``Unknown``
carrying the label so its ids are kept: the carrier made (and bills) that
label, and a later fetch may get the file whole (``shipping.services``).
"""

import logging
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from integrations.errors import Unknown
from shipping.providers.shipment_types import LabelFormat, LabelStatus

if TYPE_CHECKING:
    from shipping.providers.base import Label, LabelUpdate, Pickup, Rate

logger = logging.getLogger(__name__)

# The columns these are stored in (shipping.models; tests hold them equal).
LABEL_LIMITS = {"carrier_shipment_id": 128, "tracking_number": 64, "currency": 3}
PARCEL_LIMIT = 64  # ShipmentParcel.tracking_number and carrier_reference
PICKUP_LIMITS = {"confirmation_number": 64, "location_code": 64}
RATE_LIMITS = {
    "carrier": 32,
    "service_code": 64,
    "service_name": 128,
    "carrier_rate_id": 128,
}
# What jsonb refuses in a string (a rate's extra detail): NUL, lone surrogates.
_NOT_JSONB = re.compile("[\x00\ud800-\udfff]")

# U+FFFD too: the webhook intake stores a NUL (or lone surrogate) as it, so in
# a carrier's id or number it stands for a character that could not be kept.
# A lone surrogate itself (JSON may escape one) is text UTF-8 cannot encode.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ufffd\ud800-\udfff]")

# Not a malformed_response: the file may come whole on the next fetch.
GARBLED_FILE = "garbled_label_file"
# Readers' own rules: a PDF's header in its first KiB, its %%EOF in its last
# (padding after it aside); a ZPL format ends ^XZ, and immediate (~) commands,
# such as a logo's download, may come before its ^XA; a PNG ends at its IEND
# chunk (fixed CRC), whatever bytes follow. ZPL command names are not case
# sensitive: a printer reads ^xa as ^XA.
_WINDOW = 1024
_PADDING = b" \t\r\n\x0c\x00"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"IEND\xaeB`\x82"
_ZPL_START = re.compile(rb"\^xa", re.IGNORECASE)
_ZPL_END = re.compile(rb"\^xz", re.IGNORECASE)
# A linearized PDF states its length (/L): one shorter was cut after the
# first page's own %%EOF.
_LINEARIZED = re.compile(rb"<<[^>]*/Linearized[^>]*>>")
_STATED_LENGTH = re.compile(rb"/L\s+(\d+)")


class GarbledLabelFile(Unknown):
    """A label made whose file is not whole; ``label`` keeps its ids (never
    its file) so the shipment records them and fetches the file again."""

    def __init__(self, message: str, *, label: "Label | None" = None) -> None:
        super().__init__(message, code=GARBLED_FILE)
        # A default, so the error pickles (a task's result) like any other.
        self.label = label and replace(label, label_data=b"", parcel_labels=())


def checked_label(carrier: str, label: "Label") -> "Label":
    """``label`` when every string of it can be stored; else ``Unknown``."""
    for field, limit in LABEL_LIMITS.items():
        _check(carrier, field, getattr(label, field), limit)
    for number in label.parcel_tracking_numbers:
        _check(carrier, "parcel_tracking_numbers", number, PARCEL_LIMIT)
    for parcel in label.parcel_labels:
        _check(carrier, "parcel_labels", parcel.tracking_number, PARCEL_LIMIT)
        _check(carrier, "parcel_labels", parcel.carrier_reference, PARCEL_LIMIT)
    return label


def checked_pickup(carrier: str, pickup: "Pickup") -> "Pickup":
    """``pickup`` when every string of it can be stored; else ``Unknown``."""
    for field, limit in PICKUP_LIMITS.items():
        _check(carrier, field, getattr(pickup, field), limit)
    return pickup


def storable_rates(carrier: str, rates: "list[Rate]") -> "list[Rate]":
    """The rates whose strings can be stored as quotes; one that cannot is
    dropped (logged), as a rate with an unusable price is, so it costs that
    rate alone. None left of some: ``Unknown``, this carrier's failure."""
    kept = []
    for rate in map(_shown_name, rates):
        if _storable_rate(rate):
            kept.append(rate)
            continue
        logger.warning(
            "carrier rate dropped: a code or id that cannot be stored",
            extra={"carrier": carrier},
        )
    if rates and not kept:
        raise Unknown(
            f"{carrier} sent rates that cannot be stored", code="malformed_response"
        )
    return kept


def _shown_name(rate: "Rate") -> "Rate":
    """The rate with its service name as the quote column holds it: the
    buyer's text, not an id, so control characters (a NUL, a newline) become
    spaces and a long one is cut, never costing a buyable price."""
    name = rate.service_name
    if not isinstance(name, str):
        return rate
    name = " ".join(_CONTROL.sub(" ", name).split()) or rate.service_code
    limit = RATE_LIMITS["service_name"]
    if len(name) > limit:
        name = name[: limit - 1] + "…"
    return replace(rate, service_name=name)


def _storable_rate(rate: "Rate") -> bool:
    strings = all(
        isinstance(value := getattr(rate, field), str) and storable(value, limit)
        for field, limit in RATE_LIMITS.items()
    )
    return strings and _jsonb_storable(rate.extra)


def _jsonb_storable(value: object) -> bool:
    """Every string in ``value``, keys and nested lists or dicts too: their
    printed form would show a NUL as the text ``\\x00`` and hide it."""
    if isinstance(value, str):
        return not _NOT_JSONB.search(value)
    if isinstance(value, Mapping):
        return all(_jsonb_storable(k) and _jsonb_storable(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_jsonb_storable(item) for item in value)
    return True


def checked_label_update(carrier: str, update: "LabelUpdate") -> "LabelUpdate":
    """``update`` (a label-state webhook) when the label id it would store
    can be, its label checked as a bought one's, also once fetched; else
    ``Unknown``."""
    limit = LABEL_LIMITS["carrier_shipment_id"]
    _check(carrier, "carrier_shipment_id", update.carrier_shipment_id, limit)
    if update.label is not None:
        checked_label(carrier, update.label)
    fetch = update.fetch_label
    if fetch is None:
        return update
    return replace(
        update,
        fetch_label=lambda: checked_files(carrier, checked_label(carrier, fetch())),
    )


def checked_files(carrier: str, label: "Label") -> "Label":
    """``label`` when its file and each parcel's own read as whole files of
    its declared format; else ``GarbledLabelFile`` (see above)."""
    if label.status != LabelStatus.CREATED:
        return label
    files = [label.label_data, *(parcel.label_data for parcel in label.parcel_labels)]
    for data in files:
        if not _whole(data, label.label_format):
            raise GarbledLabelFile(
                f"{carrier} sent a label file that is not a whole "
                f"{label.label_format.value.upper()} file",
                label=label,
            )
    return label


def _whole(data: bytes, label_format: LabelFormat) -> bool:
    if label_format == LabelFormat.PNG:
        return data.startswith(_PNG_SIGNATURE) and _PNG_END in data
    body = data.rstrip(_PADDING)
    if label_format == LabelFormat.ZPL:
        return bool(_ZPL_START.search(body) and _ZPL_END.search(body[-_WINDOW:]))
    head = body[:_WINDOW]
    if b"%PDF-" not in head or b"%%EOF" not in body[-_WINDOW:]:
        return False
    linearized = _LINEARIZED.search(head)
    stated = linearized and _STATED_LENGTH.search(linearized.group())
    return not stated or len(data) >= int(stated.group(1))


def storable(value: str, limit: int) -> bool:
    """``value`` fits a column of ``limit`` and carries no control character."""
    return len(value) <= limit and not _CONTROL.search(value)


def _check(carrier: str, field: str, value: object, limit: int) -> None:
    if isinstance(value, str) and storable(value, limit):
        return
    # The value itself stays out of the message: it is the carrier's, unread.
    raise Unknown(
        f"{carrier} sent a {field} that cannot be stored", code="malformed_response"
    )
