"""A full run's gone levels, asked about at the ERP before they are set to 0.

A listing read whole with every page boundary proven still misses an item
restored at the ERP after its page was read (TradeGecko brings a soft-
deleted variant back with its old id, at a place already read): absent from
the run, live at the ERP. Where the adapter looks items up
(``looks_up_items``), each SKU the run would set to 0 is asked for first,
outside any transaction (the run holds no lock while the ERP answers), at
most ``INVENTORY_SYNC_GONE_LOOKUPS`` SKUs a run, and after the first none
once the task's time budget is spent (at TradeGecko's pace 25 SKUs could
outlive Q_TIMEOUT). The ERP has no live item
by it, or the item no longer names the location: gone (sync_gone sets it
to 0). It still has it there: not gone, and its figure is applied as a
sync page's. Not asked (over the bound or out of time), the look-up failed, or its
answer was cut (more than the ERP answers in one look-up): the
listing's word stands, set to 0 as before look-ups (errs low: a deleted
item kept on sale would be sold at a figure the ERP no longer has), and
the run says how many; a restored item comes back with its webhook or the
next full run.
"""

import logging
import time

from django.conf import settings

from integrations.clock import database_now
from integrations.errors import ProviderError
from inventory.models import SyncListedLevel, SyncRun
from inventory.providers.base import InventoryAdapter, StockLevelPage
from inventory.services.apply import stock_levels_apply
from inventory.services.sync_gone import gone_candidates
from inventory.services.sync_pages import MAX_ERRORS_KEPT

logger = logging.getLogger(__name__)

# (level pk, location code) of one SKU's gone candidates.
Levels = list[tuple[int, str]]


def levels_found_live(
    run: SyncRun, adapter: InventoryAdapter, deadline: float | None = None
) -> frozenset[int]:
    """The ids of the levels ``run`` would set to 0 as gone that the ERP
    still has live (their figures applied); none where the adapter looks
    nothing up (its listing's word stands). After the first, no SKU is
    asked once ``time.monotonic()`` reaches ``deadline``. Call it outside
    any transaction."""
    if not adapter.looks_up_items:
        return frozenset()
    if not SyncListedLevel.objects.filter(run=run).exists():
        return frozenset()  # an empty listing proves nothing (sync_gone)
    by_sku, left = _candidates_by_sku(run, settings.INVENTORY_SYNC_GONE_LOOKUPS)
    live: set[int] = set()
    for asked, (sku, levels) in enumerate(by_sku.items()):
        if asked and deadline is not None and time.monotonic() >= deadline:
            left += len(levels)
            continue
        try:
            found, unproven = _item_live(run, adapter, sku, levels)
        except ProviderError as error:
            logger.warning(
                "inventory gone level not asked at the ERP; the listing's word stands",
                extra={"account": run.account.slug, "sku": sku, "code": error.code},
            )
            left += len(levels)
            continue
        live |= found
        left += unproven
    if left:
        _unconfirmed_record(run, left)
    return frozenset(live)


def _candidates_by_sku(run: SyncRun, bound: int) -> tuple[dict[str, Levels], int]:
    """The candidates of the first ``bound`` SKUs (by SKU), and how many
    levels of later SKUs are left unasked."""
    by_sku: dict[str, Levels] = {}
    rows = (
        gone_candidates(run)
        .order_by("sku", "pk")
        .values_list("pk", "sku", "location__code")
    )
    for pk, sku, code in rows.iterator(chunk_size=500):
        if sku not in by_sku and len(by_sku) >= bound:
            break
        by_sku.setdefault(sku, []).append((pk, code))
    left = gone_candidates(run).exclude(sku__in=list(by_sku)).count()
    return by_sku, left


def _item_live(
    run: SyncRun, adapter: InventoryAdapter, sku: str, levels: Levels
) -> tuple[set[int], int]:
    """The levels of ``sku`` the ERP still has (their figures applied), and
    how many others its answer, cut (``has_more``), proves nothing of."""
    asked_at = database_now()
    page: StockLevelPage | None = adapter.item_levels(sku)
    if page is None:
        return set(), 0
    codes = {code for _, code in levels}
    # A location named but refused (a figure beyond our column) is not gone.
    named = {r.location_code for r in (*page.records, *page.rejected) if r.sku == sku}
    live = [r for r in page.records if r.sku == sku and r.location_code in codes]
    if live:
        stock_levels_apply(
            account=run.account,
            records=live,
            now=database_now(),
            as_of=asked_at,
            answered_at=database_now(),
        )
        logger.warning(
            "inventory level missing from a full listing is live at the ERP",
            extra={"account": run.account.slug, "sku": sku},
        )
    found = {pk for pk, code in levels if code in named}
    if page.has_more and len(found) < len(levels):
        logger.warning(
            "inventory gone level's look-up cut at the ERP; the listing's word stands",
            extra={"account": run.account.slug, "sku": sku},
        )
    return found, (len(levels) - len(found)) if page.has_more else 0


def _unconfirmed_record(run: SyncRun, left: int) -> None:
    logger.warning(
        "inventory gone levels set to 0 without asking the ERP",
        extra={"account": run.account.slug, "count": left},
    )
    if len(run.errors) >= MAX_ERRORS_KEPT:
        return
    run.errors = [
        *run.errors,
        {
            "code": "gone_unconfirmed",
            "message": f"{left} level(s) missing from the ERP's full listing "
            "were set to 0 without asking the ERP item by item (look-ups "
            "beyond INVENTORY_SYNC_GONE_LOOKUPS a run or the task's time, "
            "failed, or cut at the ERP's bound); an item "
            "restored there comes back with its webhook or the next full run.",
        },
    ]
