"""revinv24: inv24 keeps a level below 0 (a backlog: units sold here that
TradeGecko's figure does not cover) as it is when its item leaves the full
listing, rather than setting it to 0 (which booked units the ERP had not
shipped once restored). But it also stopped naming it for staff: the gone
path took only levels above 0, so a deleted item that still owes units sold
here left no ``gone_at_erp`` and showed only "out of stock" (a level below 0
sells none). Staff must settle those sales, so such a level is named at each
full run that misses it, its on-hand kept."""

import pytest

from inventory.models import StockLevel
from tests.inventory.test_inv23_archived_sold import apply_path, listed

pytestmark = pytest.mark.django_db

__all__ = ["apply_path", "listed"]


def _a() -> tuple[int, int, str]:
    level = StockLevel.objects.get(sku="A")
    return level.on_hand, level.sold_unseen, level.state


def _backlog(gecko_account, gecko) -> None:
    """A: a figure of 1 stamped before the 3 sold here: on hand 1 - 3."""
    a = next(v for v in gecko.variants if v["sku"] == "A")
    a.update(
        locations=[{"location_id": 159, "stock_on_hand": "1"}],
        updated_at="2026-11-15T08:00:00.000Z",
    )
    assert gecko.sync(gecko_account, full=True).status == "succeeded"
    assert _a()[:2] == (-2, 3)


def _gone(run) -> list[tuple[str, str]]:
    return [(e["sku"], e["location"]) for e in run.errors if e["code"] == "gone_at_erp"]


def test_a_backlog_gone_from_the_full_listing_is_named_for_staff(listed):
    gecko_account, gecko = listed
    _backlog(gecko_account, gecko)
    gecko.set_status("A", "archived")

    run = gecko.sync(gecko_account, full=True)

    assert run.status == "succeeded"
    assert _gone(run) == [("A", "159")]
    message = next(e["message"] for e in run.errors if e["code"] == "gone_at_erp")
    assert "-2" in message and "set to 0" not in message
    assert _a() == (-2, 3, "out_of_stock")  # kept: sells nothing, books nothing

    # Still missing at the next full run: named again (still owed).
    assert _gone(gecko.sync(gecko_account, full=True)) == [("A", "159")]
    assert _a()[:2] == (-2, 3)


def test_a_backlog_still_listed_or_at_0_is_not_named(listed):
    gecko_account, gecko = listed
    _backlog(gecko_account, gecko)

    run = gecko.sync(gecko_account, full=True)

    assert _gone(run) == []
    StockLevel.objects.filter(sku="A").update(on_hand=0, sold_unseen=0)
    gecko.set_status("A", "archived")
    assert _gone(gecko.sync(gecko_account, full=True)) == []
