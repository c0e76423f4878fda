"""TradeGecko's variant listing has no documented default order, and the
recorded one is by no key (provider spec, variants.yml: ids 982891, 720709,
704123, 593558, 982815, neither by id nor by creation or update time). Its
docs name an ``order`` index filter ("created_at DESC"). Read by page number
in an order a write can change (as a database's unordered scan puts an
updated row at its end), the page-boundary check by id (h/invx) cannot tell
a skipped variant: one page 1 ended with, updated meanwhile, is found on
page 2 ("moved onto the page read", taken for a creation before it), so the
variant that took its place is never read and was zeroed as gone; an update
to any other variant of page 1 marks the run ``listing_shifted``, so a shop
whose stock moves during each run ends every run partial, checks no
deletion and never moves "since". Asked in id order, an update moves
nothing and a creation goes last."""

import pytest

from inventory.models import SyncStatus
from inventory.services.sync import next_since
from tests.inventory.paged_erp import gecko_variant, synced_levels
from tests.inventory.test_invx_tradegecko_shift import (
    PagedGecko,
    account,
)

pytestmark = pytest.mark.django_db

__all__ = ["account"]  # the TradeGecko account fixture (page size 2)

LATER = "2026-11-02T08:00:00.000Z"


class UnorderedGecko(PagedGecko):
    """Without ``order`` the listing is in storage order: a variant written
    meanwhile moves to its end. With ``order=id ASC`` (``id DESC``) it is in
    ascending (descending) id order."""

    def answer(self, request):
        order = request.params.get("order", "").lower()
        if order in ("id asc", "id desc"):
            self.variants.sort(key=lambda v: v["id"], reverse=order == "id desc")
        return super().answer(request)

    def update_during_run(self, sku: str, stock: int) -> None:
        def meanwhile() -> None:
            found = next(v for v in self.variants if v["sku"] == sku)
            self.variants.remove(found)
            self.variants.append(gecko_variant(found["id"], sku, stock, updated=LATER))

        self.between = meanwhile


def _gecko() -> UnorderedGecko:
    return UnorderedGecko(
        [gecko_variant(n, s, 6) for n, s in enumerate("ABCD", start=1)]
    )


def test_a_variant_written_during_the_run_skips_none_as_gone(account):
    gecko = _gecko()
    gecko.sync(account, full=True)
    # B, page 1's last, gets stock while page 1 is read: C would take its place.
    gecko.update_during_run("B", 7)

    run = gecko.sync(account, full=True)

    assert not [e for e in run.errors if e["code"] == "gone_at_erp"]
    assert synced_levels()["C"] == 6  # still at TradeGecko: not zeroed


def test_a_stock_change_during_the_run_leaves_it_whole(account):
    gecko = _gecko()
    gecko.sync(account, full=True)
    since = next_since(account)
    gecko.update_during_run("A", 8)  # a sale at TradeGecko: A's stock moves

    run = gecko.sync(account, full=True)

    assert run.status == SyncStatus.SUCCEEDED
    assert [e["code"] for e in run.errors] == []
    assert next_since(account) != since


def test_the_listing_is_asked_in_id_order_probe_included(account):
    gecko = _gecko()
    gecko.sync(account, full=True)
    gecko.between = lambda: gecko.variants.pop(0)  # A deleted: a real shift

    run = gecko.sync(account, full=True)

    assert {p.get("order") for p in gecko.asked} == {"id DESC"}
    # The totals prove no boundary (revinv20: a restored variant keeps its
    # old id): a boundary not seen again is asked at its place.
    assert any(p["limit"] == "3" for p in gecko.asked)  # revinv22's look-up
    assert run.status == SyncStatus.PARTIAL
    assert synced_levels()["C"] == 6


def test_the_order_is_sent_on_an_incremental_run_too(account):
    gecko = _gecko()
    gecko.sync(account, full=True)

    gecko.sync(account, full=False)

    asked = gecko.asked[-1]
    assert asked.get("order") == "id ASC" and "updated_at_min" in asked
