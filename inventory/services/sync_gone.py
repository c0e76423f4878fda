"""Items deleted at the ERP: found by their absence from a full listing.

An ERP that names every item it has in a full listing (``lists_every_item``:
TradeGecko, whose ``variant.destroy`` webhook names a variant id that its
read-back answers 404 for, SKU and all) tells us of a deletion only by not
listing the SKU again. A full run that read every page (succeeded) collects
the SKUs it saw in its position; at its end, each level this account
reported before whose SKU it did not see is gone at the ERP: its on-hand
goes to 0 (reservations kept: units held there are short, so the level turns
oversold and is announced) and the run names it for staff (``gone_at_erp``).
A run with a failed page, or an incremental one, proves nothing.
"""

import logging
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from inventory.models import StockLevel, SyncRun
from inventory.providers.base import StockLevelPage
from inventory.services.levels import expired_holds, levels_refresh
from inventory.services.reservations import locked_levels
from inventory.services.sync_pages import MAX_ERRORS_KEPT, SyncPosition

logger = logging.getLogger(__name__)

# SKUs a run keeps in its position (saved with every page); a listing past
# this many is not checked for deletions (logged), rather than weigh on
# every page's save.
MAX_SEEN = 50_000


def seen_after(position: SyncPosition, page: StockLevelPage | None) -> SyncPosition:
    """``position`` with the SKUs of ``page`` added, where the run collects
    them (``position.seen`` not None)."""
    if position.seen is None or page is None:
        return position
    skus = {r.sku for r in page.records} | {r.sku for r in page.rejected}
    seen = set(position.seen) | skus
    if len(seen) > MAX_SEEN:
        logger.warning(
            "inventory sync listing too long to check for deleted items",
            extra={"limit": MAX_SEEN},
        )
        return replace(position, seen=None)
    return replace(position, seen=tuple(sorted(seen)))


def levels_gone_apply(run: SyncRun, seen: Iterable[str], now: datetime) -> int:
    """Set to 0 the levels ``run.account`` reported whose SKU its complete
    listing (``seen``) no longer has, and name them in ``run.errors``; call
    it in a transaction. Returns how many levels were set."""
    listed = set(seen)
    candidates = StockLevel.objects.filter(source=run.account).exclude(on_hand=0)
    ids = [pk for pk, sku in candidates.values_list("pk", "sku") if sku not in listed]
    if not ids:
        return 0
    gone = [
        level
        for level in locked_levels(sorted(ids)).values()
        # As locked: a webhook may have reported it since the read above.
        if level.source_id == run.account_id and level.on_hand != 0
    ]
    StockLevel.objects.filter(pk__in=[level.pk for level in gone]).update(
        on_hand=0, synced_at=now
    )
    for level in gone:
        level.on_hand = 0
    levels_refresh(gone, expired=expired_holds([level.pk for level in gone], now))
    _gone_record(run, gone)
    return len(gone)


def _gone_record(run: SyncRun, gone: list[StockLevel]) -> None:
    for level in gone:
        if len(run.errors) < MAX_ERRORS_KEPT:
            run.errors = [
                *run.errors,
                {
                    "code": "gone_at_erp",
                    "sku": level.sku,
                    "location": level.location.code,
                    "message": "Not in the ERP's full listing (deleted there): "
                    "on hand set to 0.",
                },
            ]
    logger.warning(
        "inventory items gone at the ERP set to 0",
        extra={"account": run.account.slug, "count": len(gone)},
    )
