"""TradeGecko's variant listing is paged by number only (``limit``/``page``;
no offset, no id range: provider spec and its API docs' index filters), so
a variant leaving the listing from a page already read moves the next
page's first variant onto it: skipped, and zeroed as gone by a full run.

A full run asks in descending id order. A variant created meanwhile takes
the newest id (a database sequence), joins before every page and moves the
page before's last variant onto the next page (read twice, never skipped):
found there, that boundary needs no request more. But TradeGecko deletes
softly: a deleted variant becomes ``archived`` and leaves the default
listing, and one restored comes back with its old id, at any place
(tradegecko/smaug, "Soft Deletion"). A deletion before a boundary and a
restore past it keep the total while a live variant moves past the next
page, so the totals prove no boundary: unless the page before's last
variant is on the page read, the place before the page and its first place
are looked up in one answer, which must show it directly followed by the
page's first (``boundary_held``; a lone place asked on its own was faked by
a creation between the page and that request). Found on the page, a
deletion during the run skipped nothing there; not found, the look-up is
asked whether the total (``meta.total``) fell or not: one deletion before
the boundary moves the next variant onto the page's first place, skipping
none. Only with no last variant to look for (after a failed page) does a
fall mark the page at no request more. Incremental runs (ascending
order), pages without a total, and cursors saved before are checked the
same way.

That look-up cost a request per page (799 for 100,000 variants at 250 a
page). A full run whose totals are trusted folds it into the next page
instead: the limit (at most the page size) is chosen so that the next page
starts before the place the page before ended (``limit`` divides that
start, as numbered pages do) and so holds that page's last variant again.
Found there, nothing past it was skipped; not found, it is looked up at
the page's first place as before. A few variants are read twice (about 5
in 100) and pages hold about 230: 433 requests for 100,000. Where no
limit reads over half a page anew (page sizes of a few), the grid's next
page and its look-up are asked as before."""

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from integrations.errors import Unknown
from inventory.providers.base import cursor_from_offset, offset_from_cursor

ASCENDING = "id ASC"
DESCENDING = "id DESC"
# A descending cursor's mode: "d" and the page before's total (the
# overlapping page is chosen by it), or "p" (no total to compare); "o" and the
# total: its number is the place the page before ended, off the grid of
# numbered pages (an overlapping page was read).
BY_TOTAL, BY_PLACE, OFF_GRID = "d", "p", "o"
# Pages of one SKU's look-up read at most: a SKU names several variants only
# as deleted ones pile up under it (one deleted, one made anew).
LOOKUP_PAGES = 4


@dataclass(frozen=True)
class PageCursor:
    """A listing cursor: ``page:fingerprint:last`` (ascending, as saved by
    older versions too) or ``page:fingerprint:last:mode`` (descending)."""

    page: int
    # The page before's fingerprint where paging has no meta.total.
    previous: str = ""
    # The page before's last variant id ("": none to check).
    last: str = ""
    descending: bool = False
    # The page before's meta.total: trusted, the next page overlaps it; a
    # fall marks the next page shifted only with no ``last`` to look up.
    total: int | None = None
    # OFF_GRID: the place the page before ended (``page`` is unused).
    end: int | None = None

    @classmethod
    def parse(cls, cursor: str, *, full: bool) -> "PageCursor":
        if not cursor:
            return cls(page=1, descending=full)
        number, previous, last, mode = [*cursor.split(":", 3), "", "", ""][:4]
        page = offset_from_cursor(number) or 1
        counted = mode[1:] if mode[:1] in (BY_TOTAL, OFF_GRID) else ""
        total = int(counted) if counted.isascii() and counted.isdigit() else None
        off_grid = mode.startswith(OFF_GRID) and total is not None
        return cls(
            page=page,
            previous=previous,
            last=last,
            descending=bool(mode),
            total=total,
            end=page if off_grid else None,
        )

    def request(self, size: int) -> tuple[int, int]:
        """The page number and limit to ask: on the grid of ``size``, or,
        where the totals are trusted, an overlapping page that holds the
        page before's last variant again (module docstring)."""
        if not self.descending or self.total is None:
            return self.page, size
        end = self.end if self.end is not None else (self.page - 1) * size
        limit, new = _overlapping_limit(end, size)
        if end % size == 0 and 2 * new <= size:
            return end // size + 1, size
        return (end - 1) // limit + 1, limit

    @property
    def order(self) -> str:
        return DESCENDING if self.descending else ASCENDING

    def shrank(self, total: int | None) -> bool:
        return self.total is not None and total is not None and total < self.total

    def after_failed(self, size: int) -> str:
        # The failed page's last variant is unknown: no id to check; the
        # total of the page before it still checks the next boundary.
        if not self.descending:
            page = self.page + 1
            return f"{page}:{self.previous}" if self.previous else str(page)
        page, limit = self.request(size)
        return _descending(page * limit, size, self.previous, "", self.total)

    def following(self, total: int | None, variants: list, asked: tuple) -> str:
        """The next page's cursor, this page asked as ``asked`` (page,
        limit, page size). Without ``meta.total`` only a short page ends
        the listing: an ERP (or a proxy) that ignores ``page`` would answer
        the same full page for ever, so the cursor carries this page's
        fingerprint and a page identical to the one before it fails
        (``paging_ignored``)."""
        page, last = self.page + 1, id_text(variants[-1]) if variants else ""
        fingerprint = "" if total is not None else self._fingerprint(variants)
        if self.descending:
            # Totals check the boundaries while every page came in order.
            first = self.page == 1 and self.end is None and self.total is None
            trusted = (first and len(variants) > 1) or self.total is not None
            by_total = trusted and total is not None and in_descending_order(variants)
            number, limit, size = asked
            counted = total if by_total else None
            return _descending(number * limit, size, fingerprint, last, counted)
        boundary = f":{last}" if last else ""
        if total is not None:
            return f"{page}:{boundary}" if last else cursor_from_offset(page)
        return f"{page}:{fingerprint}{boundary}"

    def _fingerprint(self, variants: list) -> str:
        ids = json.dumps([variant.get("id") for variant in variants], default=str)
        fingerprint = hashlib.sha256(ids.encode()).hexdigest()[:16]
        if fingerprint == self.previous:
            raise Unknown(
                f"TradeGecko answered page {self.page} as the page before it: it "
                "ignores paging, so the listing would never end",
                code="paging_ignored",
            )
        return fingerprint


def _descending(end: int, size: int, previous: str, last: str, total) -> str:
    """A descending cursor past place ``end``: on the grid, the next page's
    number; off it, the place (totals trusted) or, with no total to trust,
    the grid page holding the place after it (its first place is asked)."""
    if end % size == 0 or total is None:
        mode = BY_PLACE if total is None else f"{BY_TOTAL}{total}"
        return f"{end // size + 1}:{previous}:{last}:{mode}"
    return f"{end}:{previous}:{last}:{OFF_GRID}{total}"


def _overlapping_limit(end: int, size: int) -> tuple[int, int]:
    """The limit up to ``size`` whose page holding place ``end`` reads the
    most places past it, and how many (0: none reads one). Its first place
    is a multiple of the limit, before ``end``: a page number."""
    best, most = size, 0
    for limit in range(size, 1, -1):
        new = limit - ((end - 1) % limit + 1)
        if new > most:
            best, most = limit, new
    return best, most


def look_up_page(start: int) -> tuple[int, int]:
    """The page number and limit of the smallest page (of 2 or more) that
    holds both the place before ``start`` (0-based) and ``start``: one
    answer shows what follows the page before's last variant."""
    limit = 2
    while start % limit == 0:
        limit += 1
    return (start - 1) // limit + 1, limit


def boundary_held(rows: list, last: str, first: str, limit: int) -> bool:
    """Whether one answer (``rows``, the look-up page of ``limit``) proves
    that no variant was skipped between the page before's last (``last``)
    and the page read's first (``first``; "": the page read was empty):
    ``last`` directly followed there by ``first``, or, for an empty page,
    ending the listing. A variant live all along between the two would sit
    between them in any answer, and a write between the page and the
    look-up cannot fake that, as it could a lone place."""
    ids = [id_text(row) for row in rows]
    if not last or last not in ids:
        return False
    after = ids.index(last) + 1
    if not first:
        return after == len(ids) < limit
    return after < len(ids) and ids[after] == first


def read_again(last: str, variants: list) -> bool:
    """Whether the page before's last variant (``last``) is on the page
    read: every variant past it up to the page's end is then on it, so none
    was skipped at this boundary, deletions before it or not."""
    return bool(last) and last in {id_text(variant) for variant in variants}


def held_before(last: str, variants: list, *, descending: bool) -> int:
    """How many of the page's first variants the pages before read: in id
    order, those up to their last variant (``last``), whether it is still
    listed or was deleted between the pages (then not on this page)."""
    if not (last.isascii() and last.isdigit()):
        return 0
    sign, held = (-1 if descending else 1), 0
    for variant in variants:
        found = id_text(variant)
        if not found or sign * int(found) > sign * int(last):
            break
        held += 1
    return held


def in_descending_order(variants: list) -> bool:
    ids = [id_text(variant) for variant in variants]
    if not all(ids):
        return False
    numbers = [int(found) for found in ids]
    return all(a > b for a, b in pairwise(numbers))


def id_text(variant: Mapping[str, Any]) -> str:
    # TradeGecko's ids are integers; any other value names no place.
    found = variant.get("id")
    if isinstance(found, int) and not isinstance(found, bool):
        return str(found)
    return ""


def has_more(total: int | None, *, page: int, limit: int, count: int) -> bool:
    # ``meta.total`` counts every record of the listing; without it a full
    # page may have more after it.
    if total is not None:
        return page * limit < total
    return count >= limit


def page_total(data: Mapping[str, Any]) -> int | None:
    meta = data.get("meta")
    total = meta.get("total") if isinstance(meta, dict) else None
    return total if isinstance(total, int) and not isinstance(total, bool) else None


def listing_total(headers: Mapping[str, str], data: Mapping[str, Any]) -> int | None:
    """The listing's size: ``X-Pagination``'s ``total_records``, sent with
    every collection (TradeGecko's docs, "Response Metadata": the body's
    ``meta`` is kept on a few endpoints for historical reasons, not to be
    relied on), else ``meta.total``."""
    try:
        pagination = json.loads(headers.get("X-Pagination") or "null")
    except ValueError:
        pagination = None
    total = pagination.get("total_records") if isinstance(pagination, dict) else None
    if isinstance(total, int) and not isinstance(total, bool) and total >= 0:
        return total
    return page_total(data)


def sku_pages(
    ask: Callable[[int], tuple[list[dict[str, Any]], int | None]], limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """Every variant a look-up by SKU lists, page by page (``ask(page)``:
    that page of ``limit`` and the listing's total) up to LOOKUP_PAGES, and
    whether the answer was cut: more listed than read, or the total moved
    between its pages (a variant may have moved past a page read). A cut
    answer proves no variant absent."""
    found: dict[str, dict[str, Any]] = {}
    totals: set[int | None] = set()
    for page in range(1, LOOKUP_PAGES + 1):
        rows, total = ask(page)
        totals.add(total)
        for row in rows:
            found[id_text(row) or f"row {len(found)}"] = row
        if not has_more(total, page=page, limit=limit, count=len(rows)):
            return list(found.values()), len(totals) > 1
    return list(found.values()), True
