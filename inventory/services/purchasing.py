"""Purchase orders drafted from reorder points. Sending them to the ERP:
purchase_send; following them back: purchase_erp; recording one staff found
at the ERP: purchase_found."""

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.db.models import Sum

from integrations.clock import database_now
from integrations.rows import lock_rows
from inventory.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderStatus,
    ReorderPoint,
    ReservationLine,
    ReservationStatus,
    StockLevel,
)

logger = logging.getLogger(__name__)

OPEN = (
    PurchaseOrderStatus.DRAFT,
    PurchaseOrderStatus.UNRESOLVED,  # the ERP may hold it
    PurchaseOrderStatus.SENT,
    PurchaseOrderStatus.CONFIRMED,
)


def available_by_sku(skus: Iterable[str], now: datetime) -> dict[str, int]:
    """Available units per SKU over the locations that sell (expired holds
    not counted): stock at an inactive location covers no reorder level."""
    skus = list(skus)
    totals = (
        StockLevel.objects.filter(sku__in=skus, location__active=True)
        .values("sku")
        .annotate(on_hand=Sum("on_hand"), reserved=Sum("reserved"))
    )
    expired = (
        ReservationLine.objects.filter(
            sku__in=skus,
            location__active=True,
            reservation__status=ReservationStatus.ACTIVE,
            reservation__expires_at__lte=now,
        )
        .values("sku")
        .annotate(units=Sum("quantity"))
    )
    freed = {row["sku"]: row["units"] for row in expired}
    found = {
        row["sku"]: row["on_hand"] - row["reserved"] + freed.get(row["sku"], 0)
        for row in totals
    }
    return {sku: found.get(sku, 0) for sku in skus}


def purchase_orders_draft(
    *, skus: Iterable[str] | None = None, now: datetime | None = None
) -> list[PurchaseOrder]:
    """A draft purchase order per supplier and location for every SKU below
    its reorder point that no open purchase order covers yet. The reorder
    points are locked first: two drafts at once (the admin's action and the
    command) wait for each other, and the second finds the first's orders.
    Holds are expired by the database's clock (their expires_at is), unless
    ``now`` is given."""
    points = ReorderPoint.objects.select_related("supplier", "location")
    if skus is not None:
        points = points.filter(sku__in=list(skus))
    created = []
    with transaction.atomic():
        # Locked in pk order, the order every drafter uses, so two drafts
        # queue; the one that waited reads the other's orders (committed).
        keys = list(points.values_list("pk", flat=True))
        locked = list(lock_rows(points, keys, of=("self",)).values())
        # Read after the wait for the locks; this machine's clock may be off.
        for group in _uncovered(locked, now or database_now()).values():
            created.append(_draft(group))
    logger.info("purchase orders drafted", extra={"count": len(created)})
    return created


def _uncovered(
    points: list[ReorderPoint], now: datetime
) -> dict[tuple[int, int], list[ReorderPoint]]:
    """The points below their level no open order covers, by supplier and
    location."""
    available = available_by_sku([p.sku for p in points], now)
    covered = set(
        PurchaseOrderLine.objects.filter(
            purchase_order__status__in=OPEN, sku__in=[p.sku for p in points]
        ).values_list("sku", flat=True)
    )
    groups: dict[tuple[int, int], list[ReorderPoint]] = defaultdict(list)
    for point in points:
        if available[point.sku] < point.reorder_level and point.sku not in covered:
            groups[(point.supplier_id, point.location_id)].append(point)
    return groups


def _draft(group: list[ReorderPoint]) -> PurchaseOrder:
    order = PurchaseOrder.objects.create(
        supplier=group[0].supplier,
        location=group[0].location,
        currency=group[0].supplier.currency,
    )
    PurchaseOrderLine.objects.bulk_create(
        PurchaseOrderLine(
            purchase_order=order,
            sku=p.sku,
            quantity=p.reorder_quantity,
            unit_cost=p.unit_cost,
        )
        for p in group
    )
    return order


def purchase_orders_unsent(*, skus: Iterable[str] | None = None) -> list[PurchaseOrder]:
    """The drafts not yet sent (those with a line of ``skus``, if given),
    oldest first."""
    drafts = PurchaseOrder.objects.filter(status=PurchaseOrderStatus.DRAFT)
    if skus is not None:
        drafts = drafts.filter(lines__sku__in=list(skus)).distinct()
    return list(drafts.select_related("supplier", "location").order_by("pk"))
