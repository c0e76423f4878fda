"""NetSuite's stock levels by SuiteQL: the levels query (an item and its
location per row), its key-paging cursor, and a row read as a level record.
Split from ``netsuite`` (the adapter), which asks the pages.
docs/providers/inventory.md."""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from integrations.errors import Rejected, Unknown
from inventory.providers.base import (
    StockLevelRecord,
    UnreadableLevel,
    whole_units,
)

LEVELS_QUERY = (
    "SELECT item.itemid AS sku, iil.item AS item, iil.location AS location, "
    "iil.quantityonhand AS quantityonhand, "
    "TO_CHAR(item.lastmodifieddate, 'YYYY-MM-DD\"T\"HH24:MI:SS') AS lastmodified "
    "FROM inventoryitemlocations iil JOIN item ON item.id = iil.item"
)


def changed_since(since: datetime) -> str:
    """The items changed at or after ``since``: the item record, or its stock
    through a transaction. A receipt, fulfilment, adjustment or transfer moves
    quantities without touching ``item.lastmodifieddate``, so the items of
    inventory-affecting transaction lines changed since then are asked too."""
    stamp = since.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    at = f"TO_TIMESTAMP('{stamp}', 'YYYY-MM-DD HH24:MI:SS')"
    # ``at`` is formatted from a datetime here: no outside text in the query.
    moved = (
        "SELECT tl.item FROM transactionline tl "  # noqa: S608
        "JOIN transaction t ON t.id = tl.transaction "
        "WHERE tl.isinventoryaffecting = 'T' "
        f"AND (tl.linelastmodifieddate >= {at} OR t.lastmodifieddate >= {at})"
    )
    return f"(item.lastmodifieddate >= {at} OR iil.item IN ({moved}))"


def suiteql_literal(value: str) -> str:
    """``value`` as a SuiteQL string literal (quotes doubled, as in SQL)."""
    return "'" + value.replace("'", "''") + "'"


# Internal ids are integers; a skip stays below a few pages.
_ID = re.compile(r"[0-9]{1,18}")
_CURSOR = re.compile(r"([0-9]{1,18}):([0-9]{1,18})(?::([0-9]{1,9}))?|([0-9]{0,9})")


@dataclass(frozen=True)
class LevelsCursor:
    """Where a levels page starts: after the item-location key ``after``
    (None: the first row), then ``skip`` rows on (pages stepped past after
    a failure). Text: ``item:location[:skip]``, or ``skip`` alone, which is
    also the plain offset of runs saved before keyset paging."""

    after: tuple[int, int] | None = None
    skip: int = 0

    @classmethod
    def parse(cls, text: str) -> "LevelsCursor":
        found = _CURSOR.fullmatch(text)
        if found is None:
            raise Rejected("continuation is not a levels cursor", code="invalid_cursor")
        item, location, skip, offset = found.groups()
        if item is None:
            return cls(skip=int(offset or 0))
        return cls(after=(int(item), int(location)), skip=int(skip or 0))

    def text(self) -> str:
        if self.after is None:
            return str(self.skip)
        key = f"{self.after[0]}:{self.after[1]}"
        return f"{key}:{self.skip}" if self.skip else key

    def following(
        self, rows: Sequence[Mapping[str, Any]], limit: int
    ) -> "LevelsCursor":
        """The next page's start: after the last row's key. A page without
        one (no row carries its ids) is stepped over by offset instead."""
        for row in reversed(rows):
            item, location = str(row.get("item", "")), str(row.get("location", ""))
            if _ID.fullmatch(item) and _ID.fullmatch(location):
                return LevelsCursor(after=(int(item), int(location)))
        return replace(self, skip=self.skip + limit)


def level_record(row: Mapping[str, Any]) -> StockLevelRecord:
    sku, location = row.get("sku"), row.get("location")
    if not isinstance(sku, str) or not sku or location in (None, ""):
        raise UnreadableLevel(
            "no item or location", sku=sku or "", location_code=location or ""
        )
    # Items sold by weight or length ("2.5") are refused, not rounded.
    on_hand = whole_units(
        row.get("quantityonhand"),
        field="quantityonhand",
        sku=sku,
        location_code=str(location),
    )
    return StockLevelRecord(
        sku=sku,
        location_code=str(location),
        on_hand=on_hand,
        modified_at=modified_at(row.get("lastmodified")),
    )


def page_items(page: Mapping[str, Any]) -> list[dict[str, Any]]:
    items = page.get("items")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise Unknown("NetSuite sent a page without items", code="malformed_response")
    return items


def modified_at(value: object) -> datetime | None:
    """``lastmodified`` as our query formats it, read as UTC (the integration
    role's time zone must be GMT; docs/providers/inventory.md)."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        return None
