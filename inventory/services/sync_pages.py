"""Where an ERP sync stands and what it asks next.

A run's position (the ERP's continuation, or the last SKU of the batches
done for ``levels_by_sku`` ERPs) is saved with every page, in the page's own
transaction, so a run worked by several tasks asks each page once and in
order: a later task resumes exactly after the last page applied.
"""

import bisect
import logging
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings

from integrations.errors import ProviderError
from inventory.models import ReorderPoint, StockLevel, SyncRun
from inventory.providers.base import (
    InventoryAdapter,
    LevelsQuery,
    RejectedLevel,
    StockLevelPage,
)
from inventory.services.errors import stored_text

logger = logging.getLogger(__name__)

MAX_ERRORS_KEPT = 50
MAX_FAILED_PAGES_IN_A_ROW = 3


@dataclass(frozen=True)
class SyncPosition:
    """The next page of a run, as stored in ``SyncRun.position``."""

    # Page size, fixed when the run starts: an offset or page-number cursor
    # means something else under another size.
    limit: int
    # The ERP's continuation for the next page ("" = the first).
    cursor: str = ""
    # levels_by_sku: the batch under way while it has pages left; () = the
    # next batch, the known SKUs after ``after_sku``.
    skus: tuple[str, ...] = ()
    # levels_by_sku: every SKU up to this one is done (None: none yet). A
    # key, not an index: SKUs created between two tasks shift no batch.
    after_sku: str | None = None
    # Failed pages in a row (the run stops at MAX_FAILED_PAGES_IN_A_ROW).
    failures: int = 0
    done: bool = False
    # A page of the listing was not read (or may have been skipped): the
    # run does not move "since".
    incomplete: bool = False
    # A full run of a ``lists_every_item`` ERP: () while it keeps the pairs
    # it lists (as rows, sync_gone) to find what was deleted there; None:
    # not collected. A run saved by an older version may hold SKUs here.
    seen: tuple[str, ...] | None = None
    # The listing's size as its first page said (StockLevelPage.total): a
    # later page saying another stops the deletion check (sync_gone).
    listed_total: int | None = None
    # Every page that failed (the errors keep the first MAX_ERRORS_KEPT).
    failed_pages: int = 0
    # Pages that overlap (``InventoryAdapter.pages_overlap``): the (SKU,
    # location) of the levels the page before counted, so a level read again
    # is counted once and a level new on a page read again is counted.
    counted: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, run: SyncRun, adapter: InventoryAdapter) -> "SyncPosition":
        """The run's stored position, or its first page."""
        data: dict[str, Any] | None = run.position
        if not data:
            limit = min(settings.INVENTORY_SYNC_PAGE_SIZE, adapter.max_page_size)
            collects = run.full and adapter.lists_every_item
            return cls(limit=limit, seen=() if collects else None)
        seen = data.get("seen")
        return cls(
            limit=int(data["limit"]),
            cursor=str(data.get("cursor") or ""),
            skus=tuple(data.get("skus") or ()),
            after_sku=data.get("after_sku"),
            failures=int(data.get("failures") or 0),
            done=bool(data.get("done")),
            incomplete=_incomplete(data, run),
            seen=None if seen is None else tuple(seen),
            listed_total=data.get("listed_total"),
            failed_pages=int(data.get("failed_pages") or 0),
            counted=tuple((str(s), str(c)) for s, c in data.get("counted") or ()),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "cursor": self.cursor,
            "skus": list(self.skus),
            "after_sku": self.after_sku,
            "failures": self.failures,
            "done": self.done,
            "incomplete": self.incomplete,
            "seen": None if self.seen is None else list(self.seen),
            "listed_total": self.listed_total,
            "failed_pages": self.failed_pages,
            "counted": [list(key) for key in self.counted],
        }


def _incomplete(data: dict[str, Any], run: SyncRun) -> bool:
    """A position saved by a version older than owed pages has no
    "incomplete": any failed page in its errors is one never read. One saved
    while runs owed pages left a page it owed itself out of it: that page
    was not read either, and nothing asks it alone any more."""
    if any(page.get("run") == run.pk for page in run.owed or ()):
        return True
    if "incomplete" in data:
        return bool(data["incomplete"])
    return any("cursor" in error for error in run.errors)


class PageSource:
    """The queries of one run from its position, for one task. The known
    SKUs (``levels_by_sku``) are read once per task."""

    def __init__(self, adapter: InventoryAdapter, run: SyncRun) -> None:
        self.adapter = adapter
        self.run = run
        self.since = run.since
        self._known: list[str] | None = None

    def query(self, position: SyncPosition) -> LevelsQuery | None:
        """The query for the next page; None when none is left."""
        if position.done:
            return None
        if not self.adapter.levels_by_sku:
            return LevelsQuery(
                cursor=position.cursor, since=self.since, limit=position.limit
            )
        skus = position.skus or self._batch_after(position.after_sku, position.limit)
        if not skus:
            return None
        return LevelsQuery(cursor=position.cursor, limit=position.limit, skus=skus)

    def after(
        self,
        position: SyncPosition,
        query: LevelsQuery,
        page: StockLevelPage | None,
        error: ProviderError | None = None,
    ) -> SyncPosition:
        """The position once ``query`` answered ``page``, or failed with
        ``error`` (recorded here; the run then moves no "since")."""
        if page is None and error is not None:
            page_failure_record(self.run, query, error)
            failed = position.failed_pages + 1
            position = replace(position, incomplete=True, failed_pages=failed)
        position = replace(position, counted=self._counted(page))
        if page is not None and page.shifted:
            # A record may have been skipped: the run is partial, and "since"
            # stays where a later run reads it again.
            listing_shift_record(self.run, query)
            position = replace(position, incomplete=True)
        if page is not None:
            failures = 0
            following = query.next(page) if page.has_more else None
        else:
            failures = position.failures + 1
            # Past a few failures in a row the ERP is down, not one page bad.
            give_up = failures >= MAX_FAILED_PAGES_IN_A_ROW
            following = None if give_up else self._skip(query)
        if following is not None:
            return replace(
                position, cursor=following.cursor, skus=query.skus, failures=failures
            )
        if query.skus:
            # The batch is over (a failed one too): the next batch starts
            # after its last SKU, with a clean count of failures.
            return replace(
                position, cursor="", skus=(), after_sku=query.skus[-1], failures=0
            )
        # Given up (page None): the rest of the listing was not read. No page
        # follows to count against: the pairs are not kept with the run.
        incomplete = position.incomplete or page is None
        return replace(
            position, failures=failures, done=True, incomplete=incomplete, counted=()
        )

    def _counted(self, page: StockLevelPage | None) -> tuple[tuple[str, str], ...]:
        if page is None or not self.adapter.pages_overlap:
            return ()
        return tuple(sorted({(r.sku, r.location_code) for r in page.records}))

    def _skip(self, query: LevelsQuery) -> LevelsQuery | None:
        """The query after a failed one: the next batch of SKUs follows
        anyway; otherwise the adapter's ``cursor_after`` (None: nothing can
        follow)."""
        if query.skus:
            return None
        cursor = self.adapter.cursor_after(query)
        return None if cursor is None else replace(query, cursor=cursor)

    def _batch_after(self, after: str | None, limit: int) -> tuple[str, ...]:
        if self._known is None:
            self._known = known_skus()
        start = 0 if after is None else bisect.bisect_right(self._known, after)
        return tuple(self._known[start : start + limit])


def known_skus() -> list[str]:
    """Every SKU we stock or reorder, sorted: what a ``levels_by_sku`` ERP
    is asked."""
    stocked = StockLevel.objects.values_list("sku", flat=True).distinct()
    reordered = ReorderPoint.objects.values_list("sku", flat=True)
    return sorted(set(stocked) | set(reordered))


def failed_pages(run: SyncRun) -> int:
    """How many pages of ``run`` failed: its position's count, exact past the
    errors' cap. A run saved by an older version has only its error entries
    naming a cursor (page_failure_record; refused or gone levels do not)."""
    counted = int((run.position or {}).get("failed_pages") or 0)
    return max(counted, sum("cursor" in error for error in run.errors))


def counted_before(position: SyncPosition, page: StockLevelPage) -> int:
    """How many of ``page``'s levels the page before counted (``position``:
    as that page left it): an overlapping page's levels read again."""
    before = set(position.counted)
    return sum((r.sku, r.location_code) in before for r in page.records)


def page_failure_record(run: SyncRun, query: LevelsQuery, error: ProviderError) -> None:
    """Count a failed page's levels as failed and keep its error for staff."""
    run.items_failed += len(query.skus) or query.limit
    if len(run.errors) < MAX_ERRORS_KEPT:
        run.errors = [
            *run.errors,
            {
                "cursor": query.cursor,
                "skus": len(query.skus),
                "code": error.code,
                "outcome": str(error.outcome),
                "message": stored_text(error.message, 200),
            },
        ]
    logger.warning(
        "inventory sync page failed",
        extra={"account": run.account.slug, "code": error.code},
    )


def listing_shift_record(run: SyncRun, query: LevelsQuery) -> None:
    """Note for staff that the listing moved under the run before the page
    of ``query`` (one note a run: the first shift says it all)."""
    logger.warning(
        "inventory listing moved under the sync; a record may have been skipped",
        extra={"account": run.account.slug},
    )
    if any(e.get("code") == "listing_shifted" for e in run.errors):
        return
    if len(run.errors) < MAX_ERRORS_KEPT:
        run.errors = [
            *run.errors,
            {
                "code": "listing_shifted",
                "message": "The ERP's listing moved while its pages were read (an "
                "item deleted on a page already read): one may have been skipped. "
                "Nothing is set to 0 as gone, and the next run reads the levels "
                "changed since the last whole listing again.",
            },
        ]


def rejected_levels_record(run: SyncRun, rejected: tuple[RejectedLevel, ...]) -> None:
    """Levels of a page our columns cannot hold (the adapter's page left them
    out): counted as failed and listed for staff; the page's others apply."""
    run.items_failed += len(rejected)
    for level in rejected:
        # The last slot stays for a failed page: its entry is what makes the
        # run partial (sync._finish), however many records were refused.
        if len(run.errors) < MAX_ERRORS_KEPT - 1:
            run.errors = [
                *run.errors,
                {
                    "code": "invalid_level",
                    "sku": stored_text(level.sku, 200),
                    "location": stored_text(level.location_code, 200),
                    "message": stored_text(level.reason, 200),
                },
            ]
        logger.warning(
            "inventory sync level refused",
            extra={
                "account": run.account.slug,
                "sku": level.sku,
                "reason": level.reason,
            },
        )
