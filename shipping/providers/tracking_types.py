"""The tracking half of the shipping adapter contract: what a carrier
answers about where a parcel is (``ShippingAdapter.track``, a tracking
webhook), in our own statuses. Imported from here (``shipping.providers.base``
does not re-export it)."""

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

__all__ = ["TrackRequest", "TrackingEvent", "TrackingInfo", "TrackingStatus"]


class TrackingStatus(StrEnum):
    PRE_TRANSIT = "pre_transit"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    EXCEPTION = "exception"
    RETURNED = "returned"
    UNKNOWN = "unknown"

    @property
    def is_terminal(self) -> bool:
        """Nothing after it changes the shipment's status."""
        return self in (TrackingStatus.DELIVERED, TrackingStatus.RETURNED)


@dataclass(frozen=True)
class TrackRequest:
    tracking_number: str
    carrier_shipment_id: str = ""
    service_code: str = ""


@dataclass(frozen=True)
class TrackingEvent:
    status: TrackingStatus
    occurred_at: datetime  # aware
    carrier_status_code: str = ""
    description: str = ""
    location: str = ""  # "Memphis, TN, US": as readable as the carrier gives
    # The time the scan is known by in its dedupe key when ``occurred_at``
    # depends on which of the carrier's clocks came (USPS: its local time to
    # the minute, or GMT to the second); None: ``occurred_at``.
    key_at: datetime | None = None


@dataclass(frozen=True)
class TrackingInfo:
    tracking_number: str
    status: TrackingStatus
    # Oldest first, scans of one second too (the newest last).
    events: tuple[TrackingEvent, ...]
    estimated_delivery: date | None = None
    signed_by: str = ""
    # True when ``status`` is the carrier's own word for the parcel's current
    # state (FedEx latestStatusDetail, UPS currentStatus, USPS statusCategory,
    # DHL's status, Shippo's tracking_status), not read off the newest event.
    status_stated: bool = False
    # The carrier's own word, as its newest (stated, else its newest event by
    # time), that the label was voided there (UPS status type MV, FedEx
    # status code CA): the shipment ends voided as a void we make does.
    label_voided: bool = False
