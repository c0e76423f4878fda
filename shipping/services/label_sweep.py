"""The periodic label sweep: every unknown (or stuck) label buy asked of its
carrier again (``shipping.services.labels.shipment_reconcile``), staff told
once of one left unknown too long, and expired quotes nobody bought deleted."""

import contextlib
import logging
from datetime import timedelta

from django.db.models import F

from integrations import registry
from integrations.clock import database_now
from shipping.models import RateQuote, Shipment, ShipmentStatus
from shipping.services.labels import (
    STUCK_PURCHASING,
    shipment_reconcile,
    stuck_to_unknown,
)

logger = logging.getLogger(__name__)

# An unknown label this old is reported to staff once (an ERROR log).
OVERDUE_UNKNOWN = timedelta(days=1)


def shipments_reconcile_unknown(*, limit: int = 200) -> list[Shipment]:
    """The sweep: every unknown shipment, and those stuck buying, the least
    recently asked first. One that breaks (a bug, a database error) is
    logged and counted and the sweep moves on: it never starves the rest."""
    _report_overdue()
    stuck = database_now() - STUCK_PURCHASING
    candidates = Shipment.objects.filter(status=ShipmentStatus.UNKNOWN) | (
        Shipment.objects.filter(status=ShipmentStatus.PURCHASING, created_at__lt=stuck)
    )
    order = (F("reconciled_at").asc(nulls_first=True), "created_at", "pk")
    swept, broken = [], 0
    for shipment in candidates.select_related("account").order_by(*order)[:limit]:
        try:
            swept.append(shipment_reconcile(shipment=shipment))
            continue
        except registry.ACCOUNT_UNCALLABLE as error:
            _report_uncallable(shipment, error)
        except Exception:
            broken += 1
            logger.exception(
                "label reconciliation failed",
                extra={"shipment_id": shipment.public_id},
            )
        # Still past its claim life: staff settle what no sweep can ask (an
        # account this deploy cannot call), not purchasing for ever.
        with contextlib.suppress(Exception):
            stuck_to_unknown(shipment, "reconcile_failed")
    if broken:
        logger.error(
            "label reconciliation sweep had failures", extra={"failed": broken}
        )
    return swept


def _report_uncallable(shipment: Shipment, error: Exception) -> None:
    """No sweep can ask the carrier of a label whose account this deploy
    cannot call: staff settle it by hand or mend the account. An ERROR once
    per shipment (``uncallable_reported_at``), a warning on later sweeps."""
    first = Shipment.objects.filter(
        pk=shipment.pk, uncallable_reported_at__isnull=True
    ).update(uncallable_reported_at=database_now())
    log = logger.error if first else logger.warning
    log(
        "label's carrier account cannot be called; settle it by hand",
        extra={
            "shipment_id": shipment.public_id,
            "account": shipment.account.slug,
            "error_type": type(error).__name__,
        },
    )


def _report_overdue() -> None:
    """One ERROR per label left unknown past ``OVERDUE_UNKNOWN``: no carrier
    answer settles it (FedEx, UPS, DHL and USPS cannot look one up), so
    staff must (*Settle by hand*); once per shipment, not every sweep."""
    now = database_now()
    overdue = Shipment.objects.filter(
        status=ShipmentStatus.UNKNOWN,
        created_at__lt=now - OVERDUE_UNKNOWN,
        overdue_reported_at__isnull=True,
    )
    for shipment in overdue.only("pk", "public_id", "carrier")[:100]:
        claimed = Shipment.objects.filter(
            pk=shipment.pk, overdue_reported_at__isnull=True
        ).update(overdue_reported_at=now)
        if claimed:
            logger.error(
                "label unknown for over a day; settle it by hand",
                extra={"shipment_id": shipment.public_id, "carrier": shipment.carrier},
            )


def quotes_expired_delete(*, older_than: timedelta | None = None) -> int:
    """Expired quotes nobody bought (a shipment keeps its quote's copy)."""
    cutoff = database_now() - (older_than or timedelta(days=1))
    stale = RateQuote.objects.filter(expires_at__lt=cutoff, shipments__isnull=True)
    count, _ = stale.delete()
    return count
