"""Reads of the shipping domain: a shipment's and a pickup's timeline for
the admin, one parcel's own label."""

from integrations import registry
from integrations.models import Event
from integrations.timeline import (
    TimelineEntry,
    attempt_entries,
    event_entries,
    timeline_sorted,
    webhook_entries,
)
from shipping.models import Pickup, Shipment, ShipmentStatus
from shipping.providers.base import ShippingAdapter
from shipping.services.tracking import FAILURE_CLEARED_EVENT

# Scans a shipment's admin timeline shows.
SCANS_LISTED = 100


def shipment_timeline(shipment: Shipment) -> list[TimelineEntry]:
    """Created, carrier attempts, tracking scans, webhooks and events."""
    entries = [
        TimelineEntry(
            at=shipment.created_at,
            kind="created",
            title=f"Shipment created: {shipment.carrier} {shipment.service_code}",
        ),
        *attempt_entries(shipment.attempts.all()),
        *event_entries(subjects=[shipment.public_id]),
        *webhook_entries(
            account_id=shipment.account_id,
            reference=shipment.tracking_number,
            subject=shipment.public_id,
            since=shipment.created_at,
        ),
    ]
    entries.extend(_cleared_failures(shipment))
    entries.extend(_scans(shipment))
    return timeline_sorted(entries)


def _scans(shipment: Shipment) -> list[TimelineEntry]:
    """Each scan when the status followed it: the carrier's time, or when
    received if the carrier dated it later (said in the detail)."""
    entries = []
    # The newest hundred (a long journey has more): the status follows one.
    newest = list(shipment.tracking_events.reverse()[:SCANS_LISTED])
    for scan in reversed(newest):
        ahead = scan.occurred_at > scan.created_at
        dated = f"dated {scan.occurred_at:%Y-%m-%d %H:%M} UTC by the carrier"
        entries.append(
            TimelineEntry(
                at=min(scan.occurred_at, scan.created_at),
                kind="tracking",
                title=f"{scan.get_status_display()}: {scan.description}",
                detail=" · ".join(
                    x
                    for x in (
                        scan.location,
                        scan.carrier_status_code,
                        dated if ahead else "",
                    )
                    if x
                ),
            )
        )
    return entries


def _cleared_failures(shipment: Shipment) -> list[TimelineEntry]:
    """Failures cleared when the shipment left the state they described."""
    cleared = Event.objects.filter(
        subject=shipment.public_id, name=FAILURE_CLEARED_EVENT
    ).order_by("-created_at")[:10]
    return [
        TimelineEntry(
            at=event.created_at,
            kind="failure",
            title=f"Failure cleared (was {event.payload.get('status', '?')}): "
            f"{event.payload.get('failure_code', '')}",
            detail=str(event.payload.get("failure_message", "")),
        )
        for event in cleared
    ]


def pickup_timeline(pickup: Pickup) -> list[TimelineEntry]:
    """Created and its events, the internal staff notes too
    (``pickup.cancel_not_applied``, ``pickup.cancel_after_settle``)."""
    created = TimelineEntry(
        at=pickup.created_at,
        kind="created",
        title=f"Pickup created for {pickup.pickup_date.isoformat()}",
    )
    return timeline_sorted([created, *event_entries(subjects=[pickup.public_id])])


def parcel_label(shipment: Shipment, parcel: str) -> bytes | None:
    """The label of parcel number ``parcel`` (1-based, as the query string
    gives it), or None when there is no such parcel, it has no label of its
    own, or that label was voided."""
    # ASCII digits only ("²" is a digit to isdigit, not to int), at most 999.
    if not (len(parcel) <= 3 and parcel.isascii() and parcel.isdigit()):
        return None
    if int(parcel) == 0:
        return None
    row = shipment.parcel_labels.filter(
        sequence=int(parcel), voided_at__isnull=True
    ).first()
    return bytes(row.label_data) if row is not None and row.label_data else None


def shipment_label(shipment: Shipment) -> bytes | None:
    """The shipment's own label, or None when it has none or it was voided:
    the shipment is, or its own label's parcel row says so (bought again
    for a parcel whose refund the carrier rejected, the own label's stood)."""
    if shipment.status == ShipmentStatus.VOIDED or not shipment.tracking_number:
        return None
    if own_label_refunded(shipment):
        return None
    return bytes(shipment.label_data) if shipment.label_data else None


def own_label_refunded(shipment: Shipment) -> bool:
    """True when the shipment's own label was refunded though the shipment
    stands bought (its parcel row says so)."""
    own = shipment.carrier_shipment_id
    return bool(own) and (
        shipment.parcel_labels.filter(
            carrier_reference=own, voided_at__isnull=False
        ).exists()
    )


def shipment_void_missing(shipment: Shipment) -> str:
    """The carrier's name when it has no void (DHL Express), else "". A
    carrier this deploy cannot load is not judged here: its void says why."""
    try:
        adapter = registry.get_adapter_class("shipping", shipment.account.provider)
    except registry.ACCOUNT_UNCALLABLE:
        return ""
    if issubclass(adapter, ShippingAdapter) and not adapter.supports("void_label"):
        return adapter.display_name
    return ""
