"""A full run's gone levels, confirmed at the ERP before they are set to 0.

A listing read whole with every page boundary proven still misses an item
restored at the ERP after its page was read (TradeGecko brings a soft-
deleted variant back with its old id, at a place already read): absent from
the run, live at the ERP. Where the adapter looks items up
(``looks_up_items``), each SKU the run would set to 0 is asked for first,
outside any transaction (the run holds no lock while the ERP answers), at
most ``INVENTORY_SYNC_GONE_LOOKUPS`` SKUs a run. The ERP has no live item
by it, or the item no longer names the location: gone (sync_gone sets it
to 0). It still has it there: not gone, and its figure is applied as a
sync page's. Not asked (over the bound) or the look-up failed: kept as it
is and noted on the run; the next full run asks again.
"""

import logging

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


def gone_confirmed(run: SyncRun, adapter: InventoryAdapter) -> frozenset[int] | None:
    """The ids of the levels ``run`` would set to 0 as gone that the ERP
    confirms gone; None where the adapter looks nothing up (its listing's
    word stands). Call it outside any transaction."""
    if not adapter.looks_up_items:
        return None
    if not SyncListedLevel.objects.filter(run=run).exists():
        return frozenset()  # an empty listing proves nothing (sync_gone)
    by_sku, left = _candidates_by_sku(run, settings.INVENTORY_SYNC_GONE_LOOKUPS)
    confirmed: set[int] = set()
    for sku, levels in by_sku.items():
        try:
            gone = _item_confirm(run, adapter, sku, levels)
        except ProviderError as error:
            logger.warning(
                "inventory gone level not confirmed; kept for the next run",
                extra={"account": run.account.slug, "sku": sku, "code": error.code},
            )
            left += len(levels)
            continue
        confirmed |= gone
    if left:
        _unconfirmed_record(run, left)
    return frozenset(confirmed)


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


def _item_confirm(
    run: SyncRun, adapter: InventoryAdapter, sku: str, levels: Levels
) -> set[int]:
    """The levels of ``sku`` the ERP confirms gone; the figures of those it
    still has are applied."""
    asked_at = database_now()
    page: StockLevelPage | None = adapter.item_levels(sku)
    if page is None:
        return {pk for pk, _ in levels}
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
    return {pk for pk, code in levels if code not in named}


def _unconfirmed_record(run: SyncRun, left: int) -> None:
    logger.warning(
        "inventory gone levels left unconfirmed for the next run",
        extra={"account": run.account.slug, "count": left},
    )
    if len(run.errors) >= MAX_ERRORS_KEPT:
        return
    run.errors = [
        *run.errors,
        {
            "code": "gone_unconfirmed",
            "message": f"{left} level(s) missing from the ERP's full listing "
            "were not confirmed gone there (look-ups beyond "
            "INVENTORY_SYNC_GONE_LOOKUPS a run, or failed): kept as they are; "
            "the next full run asks again.",
        },
    ]
