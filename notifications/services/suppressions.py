"""Suppressed addresses: hard bounces, complaints and staff's entries stop
all mail to an address; an unsubscribe stops marketing mail only (order
confirmations still go)."""

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from notifications.models import Suppression, SuppressionReason, normalise_address
from notifications.providers.base import EmailCategory

logger = logging.getLogger(__name__)


def suppression_active(address: str) -> Suppression | None:
    return Suppression.objects.filter(
        address=normalise_address(address), removed_at__isnull=True
    ).first()


def suppression_blocks(address: str, category: str) -> Suppression | None:
    """The active suppression that stops a message of ``category`` to
    ``address``, or None."""
    found = suppression_active(address)
    if found is None:
        return None
    if (
        found.reason == SuppressionReason.UNSUBSCRIBE
        and category == EmailCategory.TRANSACTIONAL
    ):
        return None
    return found


def suppression_add(*, address: str, reason: str, source: str = "") -> Suppression:
    """Suppress ``address`` (idempotent: an active entry is kept as it is)."""
    address = normalise_address(address)
    existing = suppression_active(address)
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            created = Suppression.objects.create(
                address=address, reason=reason, source=source[:255]
            )
    except IntegrityError:
        # A concurrent event suppressed it first.
        return suppression_active(address)  # type: ignore[return-value]
    logger.info(
        "address suppressed", extra={"reason": reason, "suppression_id": created.pk}
    )
    return created


def suppression_remove(*, address: str, reason: str) -> Suppression | None:
    """Lift the active suppression of ``address``, keeping why; None if none."""
    if not reason.strip():
        raise ValueError("A reason is required to remove a suppression.")
    found = suppression_active(address)
    if found is None:
        return None
    found.removed_at = timezone.now()
    found.removed_reason = reason.strip()
    found.save(update_fields=["removed_at", "removed_reason"])
    logger.info("suppression removed", extra={"suppression_id": found.pk})
    return found


__all__ = [
    "SuppressionReason",
    "suppression_active",
    "suppression_add",
    "suppression_blocks",
    "suppression_remove",
]
