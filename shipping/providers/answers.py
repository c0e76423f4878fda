"""A carrier's answer checked before it is stored.

A string longer than its column, or carrying a control character (a NUL,
which PostgreSQL refuses in text), would fail the save: a 500 and a shipment
left ``purchasing``, a pickup left ``requested``. The carrier may have acted
on the request (a label bought, a pickup booked), so such an answer is
``Unknown(malformed_response)``: the shipment or pickup is left ``unknown``
for staff to settle, as for any answer we cannot read.
"""

import re
from typing import TYPE_CHECKING

from integrations.errors import Unknown

if TYPE_CHECKING:
    from shipping.providers.base import Label, Pickup

# The columns these are stored in (shipping.models; tests hold them equal).
LABEL_LIMITS = {"carrier_shipment_id": 128, "tracking_number": 64, "currency": 3}
PARCEL_LIMIT = 64  # ShipmentParcel.tracking_number and carrier_reference
PICKUP_LIMITS = {"confirmation_number": 64, "location_code": 64}

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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


def _check(carrier: str, field: str, value: object, limit: int) -> None:
    if isinstance(value, str) and len(value) <= limit and not _CONTROL.search(value):
        return
    # The value itself stays out of the message: it is the carrier's, unread.
    raise Unknown(
        f"{carrier} sent a {field} that cannot be stored", code="malformed_response"
    )
