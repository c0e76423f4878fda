"""The adapter contract's own rules: every page and event an adapter builds
leaves out the levels our columns cannot hold."""

from datetime import UTC, datetime

import pytest

from inventory.models import Location, StockLevel
from inventory.providers.base import (
    MAX_STOCK_FIGURE,
    InventoryEvent,
    StockLevelPage,
    StockLevelRecord,
    storable_levels,
)

GOOD = StockLevelRecord("A", "MAIN", 5)
SKU_MAX = StockLevel._meta.get_field("sku").max_length
CODE_MAX = Location._meta.get_field("code").max_length


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (StockLevelRecord("S" * (SKU_MAX + 1), "MAIN", 1), "sku: Ensure"),
        (StockLevelRecord("S\x00", "MAIN", 1), "sku: Null characters"),
        (StockLevelRecord("A", "L" * (CODE_MAX + 1), 1), "location_code: Ensure"),
        (StockLevelRecord("A", "", 1), "location_code: This field cannot be blank"),
        (StockLevelRecord("A", "MAIN", 2**31), "on_hand: Ensure"),
        (StockLevelRecord("A", "MAIN", -(2**31) - 1), "on_hand: Ensure"),
        (StockLevelRecord("A", "MAIN", True), "on_hand: "),
        (StockLevelRecord("S\ud800", "MAIN", 1), "sku: not a value"),
        (StockLevelRecord("A", "M\udfff", 1), "location_code: not a value"),
    ],
    ids=[
        "long_sku",
        "nul_sku",
        "long_code",
        "blank_code",
        "2^31",
        "-2^31-1",
        "bool",
        "surrogate_sku",
        "surrogate_code",
    ],
)
def test_a_page_and_an_event_keep_only_the_levels_our_columns_hold(record, reason):
    page = StockLevelPage(records=(GOOD, record), has_more=True)
    event = InventoryEvent(levels=(record, GOOD))
    assert page.records == event.levels == (GOOD,)
    (rejected,) = page.rejected
    assert event.rejected == page.rejected
    assert rejected.reason.startswith(reason)
    assert "\x00" not in rejected.sku and len(rejected.sku) <= SKU_MAX
    # What the run's errors keep (jsonb) holds no lone surrogate either.
    kept = rejected.sku + rejected.location_code
    assert not any("\ud800" <= char <= "\udfff" for char in kept)


def test_the_column_limits_themselves_are_held():
    edge = (
        StockLevelRecord("S" * SKU_MAX, "L" * CODE_MAX, MAX_STOCK_FIGURE),
        StockLevelRecord("A", "MAIN", -MAX_STOCK_FIGURE),
    )
    assert storable_levels(edge) == (edge, ())


@pytest.mark.parametrize("on_hand", [2**31 - 1, -(2**31), MAX_STOCK_FIGURE + 1])
def test_a_figure_the_column_holds_but_our_arithmetic_would_not_is_refused(on_hand):
    # Units sold and reserved are subtracted from the ERP's figure in the
    # int column: at its limit that overflows and failed the whole page.
    kept, (rejected,) = storable_levels((GOOD, StockLevelRecord("A", "M", on_hand)))
    assert kept == (GOOD,)
    assert rejected.reason.startswith("on_hand: beyond")


@pytest.mark.parametrize(
    "stamp",
    [
        datetime(9999, 12, 31, 23, 0, tzinfo=UTC),
        datetime(1, 1, 1, 3, 0, tzinfo=UTC),
    ],
    ids=["an_hour_before_10000", "three_hours_after_year_1"],
)
def test_a_time_a_local_zone_could_not_show_is_refused(stamp):
    # In range in UTC, yet the admin in Asia/Tokyo (or America/Chicago) could
    # not show it: refused with the level, like a time past year 9999.
    record = StockLevelRecord("A", "MAIN", 1, modified_at=stamp)
    page = StockLevelPage(records=(GOOD, record), has_more=False)
    assert page.records == (GOOD,)
    assert page.rejected[0].reason.startswith("modified_at: outside years")
