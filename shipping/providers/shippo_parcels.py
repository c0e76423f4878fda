"""Shippo multi-piece shipments: buying the rate of a shipment with several
parcels makes one transaction (label) per parcel; the POST answers with one
of them and ``GET /transactions?rate=<rate id>`` lists them all (Shippo's
multi-piece guide; the list endpoint and its ``rate`` filter are in
provider-specs/shippo/public-api.yaml). Listed at the purchase, and again
when a poll or webhook settles a queued multi-piece label (the shipment's
parcel count comes with it: ``ShippingAdapter.label_with_parcels``)."""

import dataclasses
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from shipping.providers.base import Label, LabelStatus, ParcelLabel

if TYPE_CHECKING:
    from shipping.providers.shippo import ShippoAdapter

logger = logging.getLogger(__name__)

PAGE_SIZE = 100  # Shippo's maximum ``results``
# UPS takes up to 200 parcels in an extended multi-piece shipment.
MAX_PAGES = 3


def rate_id_of(transaction: Mapping[str, Any]) -> str:
    """The id of the rate a transaction bought (an id, or the rate itself)."""
    rate = transaction.get("rate")
    if isinstance(rate, Mapping):
        rate = rate.get("object_id")
    return rate if isinstance(rate, str) else ""


def with_parcel_labels(
    adapter: "ShippoAdapter",
    label: Label,
    rate_id: str,
    *,
    expected: int,
    fetch: Callable[[object], bytes],
) -> Label:
    """``label`` with every parcel's tracking number and label file: the one
    Shippo answered with first, the others in the order Shippo made them
    (its list is newest first). ``expected``: the parcels sent."""
    if label.status is not LabelStatus.CREATED or not rate_id:
        return label
    bought = sorted(_bought(adapter, rate_id), key=_made_at)
    others = [t for t in bought if t.get("object_id") != label.carrier_shipment_id]
    if len(others) + 1 < expected:
        # The labels Shippo made are kept; staff see the parcels it listed.
        logger.warning(
            "shippo listed fewer parcel labels than parcels",
            extra={"transaction": label.carrier_shipment_id, "expected": expected},
        )
    if not others:
        return label
    parcels = (
        ParcelLabel(label.tracking_number, label.label_data, label.carrier_shipment_id),
        *(
            ParcelLabel(
                str(t.get("tracking_number") or ""),
                fetch(t.get("label_url")),
                str(t.get("object_id") or ""),
            )
            for t in others
        ),
    )
    return dataclasses.replace(
        label,
        parcel_tracking_numbers=tuple(p.tracking_number for p in parcels),
        parcel_labels=parcels,
    )


def _made_at(transaction: Mapping[str, Any]) -> str:
    # ISO 8601 times of one format: in text order, in time order.
    return str(transaction.get("object_created") or "")


def _bought(adapter: "ShippoAdapter", rate_id: str) -> list[Mapping[str, Any]]:
    """The rate's successful transactions, in Shippo's order."""
    found: list[Mapping[str, Any]] = []
    for page in range(1, MAX_PAGES + 1):
        data = adapter.send(
            "GET",
            "/transactions",
            operation="shippo_parcel_labels",
            params={"rate": rate_id, "results": PAGE_SIZE, "page": page},
        )
        found += [
            t
            for t in data.get("results") or []
            if isinstance(t, Mapping) and t.get("status") == "SUCCESS"
        ]
        if not data.get("next"):
            break
    return found
