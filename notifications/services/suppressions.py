"""Suppressed addresses: hard bounces, complaints, staff's entries and a
provider's stops that reach order mail (a recipient's unsubscribe from a
transactional stream, an address the provider deactivated) stop all mail to
an address; an unsubscribe stops marketing mail only (order confirmations
still go).

An address has one active entry. A stronger reason replaces a weaker one
(a hard bounce after an unsubscribe): the old row is closed, kept as
history, and a new one inserted; a weaker or equal reason changes nothing.
"""

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from notifications.models import Suppression, SuppressionReason, normalise_address
from notifications.providers.base import EmailCategory

logger = logging.getLogger(__name__)

# How much mail a reason stops: an unsubscribe marketing mail only, the
# others everything (equal among themselves: the first one stays).
REASON_RANK: dict[str, int] = {
    SuppressionReason.UNSUBSCRIBE: 0,
    SuppressionReason.HARD_BOUNCE: 1,
    SuppressionReason.COMPLAINT: 1,
    SuppressionReason.MANUAL: 1,
    SuppressionReason.UNSUBSCRIBE_ALL: 1,
    SuppressionReason.DEACTIVATED: 1,
}
# A concurrent add for the address can win each try; three is plenty.
_ADD_TRIES = 3


def suppression_active(address: str) -> Suppression | None:
    return Suppression.objects.filter(
        address=normalise_address(address), removed_at__isnull=True
    ).first()


def suppression_reason_blocks(reason: str | None, category: str) -> bool:
    """Whether an active suppression for ``reason`` (None: none) stops a
    message of ``category``."""
    if reason is None:
        return False
    return not (
        reason == SuppressionReason.UNSUBSCRIBE
        and category == EmailCategory.TRANSACTIONAL
    )


def suppression_blocks(address: str, category: str) -> Suppression | None:
    """The active suppression that stops a message of ``category`` to
    ``address``, or None."""
    found = suppression_active(address)
    if found is None or not suppression_reason_blocks(found.reason, category):
        return None
    return found


def suppression_add(*, address: str, reason: str, source: str = "") -> Suppression:
    """Suppress ``address`` for ``reason``; the active entry afterwards (the
    one there already, when it is as strong). Safe against a concurrent add
    for the same address: the unique active entry decides, and the loser
    looks again."""
    if reason not in REASON_RANK:
        raise ValueError(f"Unknown suppression reason: {reason!r}")
    address = normalise_address(address)
    for _ in range(_ADD_TRIES):
        try:
            with transaction.atomic():
                return _add_once(address, reason, source[:255])
        except IntegrityError:
            # Another add inserted the active entry after we looked.
            continue
    found = suppression_active(address)
    if found is None:
        raise RuntimeError("suppression could not be stored")
    return found


def _add_once(address: str, reason: str, source: str) -> Suppression:
    # The lock makes a concurrent stronger add wait, then find this row
    # closed (no longer active) and insert after ours.
    existing = (
        Suppression.objects.select_for_update()
        .filter(address=address, removed_at__isnull=True)
        .first()
    )
    if existing is not None:
        if REASON_RANK[reason] <= REASON_RANK.get(existing.reason, 1):
            return existing
        existing.removed_at = timezone.now()
        existing.removed_reason = f"replaced by {reason} ({source or 'no source'})"
        existing.save(update_fields=["removed_at", "removed_reason"])
    created = Suppression.objects.create(address=address, reason=reason, source=source)
    logger.info(
        "address suppressed",
        extra={
            "reason": reason,
            "suppression_id": created.pk,
            "replaced_id": existing.pk if existing is not None else None,
        },
    )
    return created


def suppression_remove(
    *, address: str, reason: str, suppression_id: int | None = None
) -> Suppression | None:
    """Lift the active suppression of ``address``, keeping why; None if none
    (or, given ``suppression_id``, if the active entry is another by now).
    The customer's unsubscribe a stronger entry replaced is active again:
    lifting a bounce never resumes marketing mail to someone who opted out."""
    if not reason.strip():
        raise ValueError("A reason is required to remove a suppression.")
    address = normalise_address(address)
    with transaction.atomic():
        found = (
            Suppression.objects.select_for_update()
            .filter(address=address, removed_at__isnull=True)
            .first()
        )
        if found is None or suppression_id not in (None, found.pk):
            return None
        found.removed_at = timezone.now()
        found.removed_reason = reason.strip()
        found.save(update_fields=["removed_at", "removed_reason"])
        restored = _unsubscribe_restore(address, found)
    logger.info(
        "suppression removed",
        extra={
            "suppression_id": found.pk,
            "restored_id": restored.pk if restored is not None else None,
        },
    )
    return found


# How a row closed without anyone lifting it says so (suppression_add, and
# the 0003 migration's merge of two spellings).
_SUPERSEDED = ("replaced by ", "merged into suppression ")


def _unsubscribe_restore(address: str, lifted: Suppression) -> Suppression | None:
    """The unsubscribe ``lifted`` had superseded, active again; None when
    the address's latest unsubscribe was itself lifted (a resubscribe)."""
    if lifted.reason == SuppressionReason.UNSUBSCRIBE:
        return None
    latest = (
        Suppression.objects.filter(
            address=address, reason=SuppressionReason.UNSUBSCRIBE
        )
        .exclude(pk=lifted.pk)
        .order_by("-pk")
        .first()
    )
    if latest is None or not latest.removed_reason.startswith(_SUPERSEDED):
        return None
    return Suppression.objects.create(
        address=address,
        reason=SuppressionReason.UNSUBSCRIBE,
        source=latest.source,
    )


__all__ = [
    "REASON_RANK",
    "SuppressionReason",
    "suppression_active",
    "suppression_add",
    "suppression_blocks",
    "suppression_reason_blocks",
    "suppression_remove",
]
