"""Units sold here that the ERP's figure does not show yet.

Confirming a reservation takes its units off on-hand at once; the ERP's own
figure drops later (an ERP that keeps holds: when our confirm forward is
done; one that keeps none: when the shop's order reaches it by other
means). Until then a sync reads the old figure, so an ERP figure is applied
as ``figure - sold_unsent - sold_unseen`` (docs/inventory.md, "Units sold
but not yet in the ERP's figure"):

- ``sold_unsent``: confirmed, with a confirm forward to the level's ERP not
  yet done. Done moves them out and stamps ``erp_acked_at``: a figure
  current as of earlier may not show that confirm, so it is not applied.
- ``sold_unseen``: confirmed with no forward to carry them (the ERP keeps no
  holds). They are taken as shown by the first figure the ERP changed after
  ``sold_unseen_at``.
"""

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime
from typing import Any

from django.db.models import F
from django.db.models.functions import Greatest

from inventory.models import ReservationLine, StockLevel
from inventory.providers.base import StockLevelRecord


def sold_changes(
    level: StockLevel, quantity: int, forwarded: Collection[int], now: datetime
) -> dict[str, Any]:
    """The update of a confirmed line's level, besides on-hand: its units
    wait for the confirm forward (``forwarded``: the accounts that get one)
    or, from an ERP told nothing, for the ERP's figure to move. A level no
    ERP supplies has no figure to wait for."""
    if level.source_id is None:
        return {}
    if level.source_id in forwarded:
        return {"sold_unsent": F("sold_unsent") + quantity}
    return {"sold_unseen": F("sold_unseen") + quantity, "sold_unseen_at": now}


def sold_forward_ended(
    *, reservation_id: int, account_id: int, at: datetime, acknowledged: bool
) -> None:
    """A confirm forward to ``account_id`` ended (call it in the transaction
    that ends it). Acknowledged: the ERP took the units off its figure,
    which a figure read from ``at`` on shows. Otherwise (it never held
    them) they wait like those of an ERP told nothing."""
    units: dict[int, int] = defaultdict(int)
    for level_id, quantity in ReservationLine.objects.filter(
        reservation_id=reservation_id, stock_level__source_id=account_id
    ).values_list("stock_level_id", "quantity"):
        units[level_id] += quantity
    for level_id in sorted(units):  # pk order, like every writer of levels
        quantity = units[level_id]
        changes: dict[str, Any] = {
            "sold_unsent": Greatest(F("sold_unsent") - quantity, 0)
        }
        if acknowledged:
            changes["erp_acked_at"] = at
        else:
            changes["sold_unseen"] = F("sold_unseen") + quantity
            changes["sold_unseen_at"] = at
        StockLevel.objects.filter(pk=level_id).update(**changes)


def figure_stale(
    record: StockLevelRecord, as_of: datetime | None, acked_at: datetime | None
) -> bool:
    """Whether ``record`` was current before the ERP acknowledged a confirm
    of its level (``as_of``: when a sync asked for it; a webhook's level:
    its modification time), so it may not show it."""
    current = as_of or record.modified_at
    return current is not None and acked_at is not None and current < acked_at


def unseen_kept(
    record: StockLevelRecord,
    *,
    on_hand: int,
    unsent: int,
    unseen: int,
    unseen_at: datetime | None,
) -> int:
    """What stays of a level's ``sold_unseen`` once ``record`` is applied:
    none when the ERP changed the level after those sales (a later
    modification time; without one, a figure other than the expected
    ``on_hand + unsent + unseen``)."""
    if not unseen:
        return 0
    if record.modified_at is not None:
        moved = unseen_at is None or record.modified_at > unseen_at
    else:
        moved = record.on_hand != on_hand + unsent + unseen
    return 0 if moved else unseen


__all__ = ["figure_stale", "sold_changes", "sold_forward_ended", "unseen_kept"]
