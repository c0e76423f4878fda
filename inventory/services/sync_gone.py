"""Items deleted at the ERP: found by their absence from a full listing.

An ERP that names every item and location it has in a full listing
(``lists_every_item``: TradeGecko, whose ``variant.destroy`` webhook names a
variant id that its read-back answers 404 for, SKU and all; NetSuite, whose
full SuiteQL listing has a row per item and location) tells us of a deletion
only by not listing it again. A full run keeps each (SKU, location) it reads
as a ``SyncListedLevel`` row, in its page's transaction. At the end of a run
that read every page (succeeded), each level this account reported before
whose pair it did not list is gone at the ERP (the item, or only one of its
locations): its on-hand goes to 0 (reservations kept: units held there are
short, so the level turns oversold and is announced) and the run names it
for staff (``gone_at_erp``). One already below 0 (units sold here its figure
does not cover) is left as it is, as off sale (``sold.off_sale_on_hand``),
and is named at each full run that misses it: those sales are staff's to
settle. A level reported since the run started (a webhook for an item
created at the ERP after the listing passed its place) is not gone by being
absent, and an empty listing is no proof (noted for staff). A run with a
failed page, or an incremental one, proves nothing. The pairs are compared
in the database and the levels gone worked in chunks, so neither the run's
position nor memory grows with the listing.
"""

import logging
from dataclasses import replace
from datetime import datetime

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet

from inventory.models import StockLevel, SyncListedLevel, SyncRun, SyncStatus
from inventory.providers.base import StockLevelPage
from inventory.services.levels import expired_holds, levels_refresh
from inventory.services.reservations import locked_levels
from inventory.services.sold import off_sale_on_hand
from inventory.services.sync_pages import MAX_ERRORS_KEPT, SyncPosition

# The run's note of levels set gone beyond those it names (errors are capped).
GONE_UNNAMED = "gone_at_erp_unnamed"

logger = logging.getLogger(__name__)

# Levels gone locked and set per statement.
GONE_CHUNK = 1000
_SKU_MAX = StockLevel._meta.get_field("sku").max_length
_CODE_MAX = SyncListedLevel._meta.get_field("location_code").max_length
LISTED_SQL = (
    f"INSERT INTO {SyncListedLevel._meta.db_table} (run_id, sku, location_code) "  # noqa: S608
    "SELECT %s, p.sku, p.code FROM unnest(%s::varchar[], %s::varchar[]) "
    "AS p(sku, code) ON CONFLICT DO NOTHING"
)


def seen_after(position: SyncPosition, page: StockLevelPage | None) -> SyncPosition:
    """``position`` as the run collects on: ``seen`` stays ``()`` (the pairs
    are rows, ``listed_record``). A run saved by an older version holds the
    SKUs it listed instead: the pairs of its earlier pages were never kept,
    so it stops collecting and checks nothing. So does a run whose listing
    moved at a page's boundary (``StockLevelPage.shifted``), or changed
    size between its pages where the adapter did not prove that boundary
    (``boundary_proven``): paged by number, a record was shifted onto a
    page already read."""
    if position.seen:
        logger.warning("inventory sync resumed from a SKU list; no deletion check")
        return replace(position, seen=None)
    if position.seen is None or page is None:
        return position
    if page.shifted:
        return replace(position, seen=None)  # noted by sync_pages
    if page.total is None:
        return position
    if position.listed_total is None or page.boundary_proven:
        # A proven boundary stands whatever the size did (growth and a
        # deletion can keep it): later sizes are compared with this one.
        return replace(position, listed_total=page.total)
    if page.total != position.listed_total:
        logger.warning(
            "inventory listing changed size under a full sync; no deletion check"
        )
        return replace(position, seen=None)
    return position


def listed_record(
    run: SyncRun, position: SyncPosition, page: StockLevelPage | None
) -> None:
    """Keep the (SKU, location) pairs of ``page`` for a run that collects
    them; call it in the page's transaction, so a page rolled back keeps
    none. Refused records count too: the ERP listed them."""
    if position.seen is None or page is None:
        return
    pairs = sorted(
        (sku, code)
        for sku, code in {(r.sku, r.location_code) for r in page.records}
        | {(r.sku, r.location_code) for r in page.rejected}
        # A longer one names no level of ours.
        if sku and code and len(sku) <= _SKU_MAX and len(code) <= _CODE_MAX
    )
    if not pairs:
        return
    if connection.vendor == "postgresql":
        # One statement a page: model instances cost as much as the page's
        # levels themselves.
        skus, codes = zip(*pairs, strict=True)
        with connection.cursor() as cursor:
            cursor.execute(LISTED_SQL, [run.pk, list(skus), list(codes)])
        return
    SyncListedLevel.objects.bulk_create(
        [SyncListedLevel(run=run, sku=sku, location_code=code) for sku, code in pairs],
        ignore_conflicts=True,
        batch_size=1000,
    )


def listed_forget(run: SyncRun) -> None:
    """Drop the pairs of ``run`` (ending) and of the account's runs that
    ended without reaching here (failed, interrupted)."""
    open_runs = (SyncStatus.QUEUED, SyncStatus.RUNNING)
    SyncListedLevel.objects.filter(run__account_id=run.account_id).filter(
        Q(run=run) | ~Q(run__status__in=open_runs)
    ).delete()


def gone_candidates(run: SyncRun) -> QuerySet[StockLevel]:
    """The levels ``run.account`` reported whose (SKU, location) its
    complete listing no longer has."""
    listed = SyncListedLevel.objects.filter(
        run=run, sku=OuterRef("sku"), location_code=OuterRef("location__code")
    )
    return (
        # A backlog (below 0) too: kept (_gone_set), but named for staff.
        StockLevel.objects.filter(source=run.account)
        .exclude(on_hand=0)
        .exclude(synced_at__gte=run.started_at)
        .filter(~Exists(listed))
    )


def levels_gone_apply(
    run: SyncRun, now: datetime, *, live: frozenset[int] = frozenset()
) -> int:
    """Set to 0 the levels ``run.account`` reported whose (SKU, location)
    its complete listing no longer has (a backlog kept), GONE_CHUNK at a
    time, and name them in ``run.errors``; call it in a transaction. Where
    the ERP looks items up, not those it still has ``live``
    (sync_confirm). Returns how many were named."""
    candidates = gone_candidates(run).order_by("pk").values_list("pk", flat=True)
    if not SyncListedLevel.objects.filter(run=run).exists():
        # Every item deleted at once is not what an empty answer means (a
        # role that lost its permissions, a proxy's empty page): staff look.
        if candidates.exists():
            _listing_empty_record(run)
        return 0
    if live:
        candidates = candidates.exclude(pk__in=live)
    count, after = 0, 0
    while ids := list(candidates.filter(pk__gt=after)[:GONE_CHUNK]):
        after = ids[-1]
        count += _gone_set(run, ids, now)
    _unnamed_record(run, count)
    if count:
        logger.warning(
            "inventory items gone at the ERP set to 0 (a backlog kept)",
            extra={"account": run.account.slug, "count": count},
        )
    return count


def _gone_set(run: SyncRun, ids: list[int], now: datetime) -> int:
    gone = [
        level
        for level in locked_levels(ids).values()
        # As locked: a webhook may have reported it since the read above.
        if level.source_id == run.account_id
        and level.on_hand != 0
        and not _reported_since(level, run)
    ]
    # A backlog keeps its on-hand (it sells nothing, and the figure it is
    # restored with must not book units the ERP has not shipped).
    zeroed = [level for level in gone if off_sale_on_hand(level.on_hand) == 0]
    StockLevel.objects.filter(pk__in=[level.pk for level in zeroed]).update(
        on_hand=0, synced_at=now
    )
    for level in zeroed:
        level.on_hand = 0
    levels_refresh(zeroed, expired=expired_holds([level.pk for level in zeroed], now))
    _gone_record(run, gone)
    return len(gone)


def _reported_since(level: StockLevel, run: SyncRun) -> bool:
    # Both on the database's clock. Reported after the listing may have
    # passed its place: the listing's silence proves nothing.
    return level.synced_at is not None and level.synced_at >= run.started_at


def _listing_empty_record(run: SyncRun) -> None:
    logger.warning(
        "inventory full listing empty; nothing set to 0",
        extra={"account": run.account.slug},
    )
    run.errors = [
        *run.errors,
        {
            "code": "listing_empty",
            "message": "The ERP's full listing was empty: nothing set to 0 as "
            "gone. Check the integration's permissions at the ERP.",
        },
    ][-MAX_ERRORS_KEPT:]


def _gone_record(run: SyncRun, gone: list[StockLevel]) -> None:
    # The last slot stays for how many more are gone (_unnamed_record).
    room = MAX_ERRORS_KEPT - 1 - len(run.errors)
    if room <= 0:
        return
    run.errors = [
        *run.errors,
        *(
            {
                "code": "gone_at_erp",
                "sku": level.sku,
                "location": level.location.code,
                "message": _gone_message(level),
            }
            for level in gone[:room]
        ),
    ]


def _unnamed_record(run: SyncRun, count: int) -> None:
    """How many levels set gone the capped list does not name: a count
    read from the names alone would say fewer went (sync_inventory)."""
    kept = list(run.errors)
    if len(kept) >= MAX_ERRORS_KEPT:
        # A level named (refused or gone, counted apart) gives up its slot,
        # never a note about the run.
        named = [place for place, e in enumerate(kept) if "sku" in e]
        if not named:
            return
        del kept[named[-1]]
    unnamed = count - sum(e.get("code") == "gone_at_erp" for e in kept)
    if unnamed <= 0:
        return
    run.errors = [
        *kept,
        {
            "code": GONE_UNNAMED,
            "count": unnamed,
            "message": f"{unnamed} more level(s) missing from the ERP's full "
            "listing were set gone as above, not named here (too many to list).",
        },
    ]


def gone_count(run: SyncRun) -> int:
    """How many levels ``run`` set gone: those named and those counted."""
    return sum(
        1 if e.get("code") == "gone_at_erp" else e.get("count", 0)
        for e in run.errors
        if e.get("code") in ("gone_at_erp", GONE_UNNAMED)
    )


def _gone_message(level: StockLevel) -> str:
    if level.on_hand == 0:
        return "Not in the ERP's full listing (deleted there): on hand set to 0."
    return (
        "Not in the ERP's full listing (deleted there): on hand kept at "
        f"{level.on_hand}, units sold here that its figure did not cover "
        "(named at each full run until it is listed again)."
    )
