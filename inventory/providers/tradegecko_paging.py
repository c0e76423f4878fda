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
page, so the totals prove no boundary: the page before's last variant is
looked up at its one place (``limit=1``) unless it is on the page read. A
total below the page before's (``meta.total``) marks the page shifted at
no request more. Incremental runs (ascending order), pages without a
total, and cursors saved before are checked the same way."""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from integrations.errors import Unknown
from inventory.providers.base import cursor_from_offset, offset_from_cursor

ASCENDING = "id ASC"
DESCENDING = "id DESC"
# A descending cursor's mode: "d" and the page before's total (a fall
# marks the next page shifted), or "p" (no total to compare).
BY_TOTAL, BY_PLACE = "d", "p"


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
    # The page before's meta.total: a page whose total fell is shifted.
    total: int | None = None

    @classmethod
    def parse(cls, cursor: str, *, full: bool) -> "PageCursor":
        if not cursor:
            return cls(page=1, descending=full)
        number, previous, last, mode = [*cursor.split(":", 3), "", "", ""][:4]
        page = offset_from_cursor(number) or 1
        counted = mode[1:] if mode.startswith(BY_TOTAL) else ""
        return cls(
            page=page,
            previous=previous,
            last=last,
            descending=bool(mode),
            total=int(counted) if counted.isascii() and counted.isdigit() else None,
        )

    @property
    def order(self) -> str:
        return DESCENDING if self.descending else ASCENDING

    def shrank(self, total: int | None) -> bool:
        return self.total is not None and total is not None and total < self.total

    def after_failed(self) -> str:
        # The failed page's last variant is unknown: no id to check; the
        # total of the page before it still checks the next boundary.
        if not self.descending:
            page = self.page + 1
            return f"{page}:{self.previous}" if self.previous else str(page)
        return f"{self.page + 1}:{self.previous}::{self._mode(self.total)}"

    def following(self, total: int | None, variants: list) -> str:
        """The next page's cursor. Without ``meta.total`` only a short page
        ends the listing: an ERP (or a proxy) that ignores ``page`` would
        answer the same full page for ever, so the cursor carries this
        page's fingerprint and a page identical to the one before it fails
        (``paging_ignored``)."""
        page, last = self.page + 1, id_text(variants[-1]) if variants else ""
        fingerprint = "" if total is not None else self._fingerprint(variants)
        if self.descending:
            # Totals check the boundaries while every page came in order.
            trusted = (self.page == 1 and len(variants) > 1) or self.total is not None
            by_total = trusted and total is not None and in_descending_order(variants)
            mode = self._mode(total if by_total else None)
            return f"{page}:{fingerprint}:{last}:{mode}"
        boundary = f":{last}" if last else ""
        if total is not None:
            return f"{page}:{boundary}" if last else cursor_from_offset(page)
        return f"{page}:{fingerprint}{boundary}"

    @staticmethod
    def _mode(total: int | None) -> str:
        return BY_PLACE if total is None else f"{BY_TOTAL}{total}"

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
