"""Shared types for inventory contract harnesses (see README.md)."""

from dataclasses import dataclass

from inventory.providers.base import LevelsQuery, StockLevelRecord
from tests.contract.runner import Webhook


@dataclass(frozen=True)
class LevelsPaging:
    """``levels_paging`` / ``levels_since``: the first query and every record
    the pages must yield, in order, over at least ``min_pages`` pages."""

    query: LevelsQuery
    expected: tuple[StockLevelRecord, ...]
    min_pages: int = 2


@dataclass(frozen=True)
class InventoryWebhook(Webhook):
    """For ``webhook_valid``: the levels ``parse_inventory_event`` must read."""

    levels: tuple[StockLevelRecord, ...] = ()


def same_levels(
    got: tuple[StockLevelRecord, ...] | list[StockLevelRecord],
    expected: tuple[StockLevelRecord, ...],
) -> bool:
    """Equal by SKU, location, on hand and (where expected has one) the ERP's
    last-modified time."""

    def key(record: StockLevelRecord, with_time: bool) -> tuple:
        when = record.modified_at if with_time else None
        return (record.sku, record.location_code, record.on_hand, when)

    if len(got) != len(expected):
        return False
    return all(
        key(g, e.modified_at is not None) == key(e, e.modified_at is not None)
        for g, e in zip(got, expected, strict=True)
    )
