"""A full TradeGecko run whose listing changed size between two pages
stopped its deletion check (sync_gone) whatever the pages proved, while a
creation and a deletion meanwhile (growth hiding the deletion) kept the
size and let it run: the size decided, not the boundaries. Every boundary
of a full run is now proven on its own (the page before's last variant read
again, or the look-up: ``boundary_held``) or the page is ``shifted``: a run
whose boundaries were all proven checks deletions though its size changed,
and a variant moved across a boundary (by a deletion before it, a creation,
a restore with an old id) is neither skipped unsaid (zeroed as gone) nor
applied twice. Built from TradeGecko's recorded variant shape
(provider-specs/tradegecko: ``variant.json``)."""

import pytest

from inventory.models import StockLevel, SyncStatus
from tests.inventory.paged_erp import (
    SKUS,
    gecko_paged_account,
    synced_levels,
)
from tests.inventory.test_revinv20_restored_variant import SoftDeletingGecko, _variant

pytestmark = pytest.mark.django_db

LATER = "2026-11-02T08:00:00.000Z"


class StagedGecko(SoftDeletingGecko):
    """``writes[n]`` runs once the run's n-th request (1-based) is answered."""

    def __init__(self, variants: list[dict]) -> None:
        super().__init__(variants)
        self.writes: dict[int, object] = {}
        self.start = 0

    def answer(self, request):
        found = super().answer(request)
        write = self.writes.pop(len(self.asked) - self.start, None)
        if write is not None:
            write()
        return found

    def sync(self, account, *, full: bool):
        self.start = len(self.asked)
        return super().sync(account, full=full)

    def create(self, variant_id: int, sku: str, stock: int = 6) -> None:
        self.variants.append(
            {**_variant(variant_id, sku), **_stock(stock), "updated_at": LATER}
        )

    def restock(self, sku: str, stock: int) -> None:
        found = next(v for v in self.variants if v["sku"] == sku)
        found.update(_stock(stock), updated_at=LATER)


def _stock(stock: int) -> dict:
    return {"locations": [{"location_id": 159, "stock_on_hand": str(stock)}]}


@pytest.fixture
def account(settings):
    return gecko_paged_account(settings)


@pytest.fixture
def gecko(account) -> StagedGecko:
    """S01 .. S25 (ids 10 .. 250) and GONE (id 5), synced at 6 each; then
    GONE deleted at TradeGecko before the next run."""
    gecko = StagedGecko(
        [_variant(5, "GONE")]
        + [_variant(n * 10, sku) for n, sku in enumerate(SKUS, start=1)]
    )
    assert gecko.sync(account, full=True).status == SyncStatus.SUCCEEDED
    gecko.set_status("GONE", "archived")
    return gecko


def test_a_run_whose_size_changed_with_every_boundary_proven_checks_deletions(
    account, gecko
):
    # Page 1 (S25 .. S16) read; S20 deleted: S16 to place 8, S15 to place
    # 9, page 2's first (9 a page): the look-up proves it. Page 2 read (to
    # S07, place 17); NEW created with the newest id: S07 moves to place
    # 18, read again by page 3 with its new figure.
    gecko.writes[1] = lambda: gecko.set_status("S20", "archived")

    def grown() -> None:
        gecko.create(260, "NEW")
        gecko.restock("S07", 9)

    gecko.writes[3] = grown

    run = gecko.sync(account, full=True)

    assert run.status == SyncStatus.SUCCEEDED, run.errors
    levels = synced_levels()
    # Deleted before the run: set to 0, though the listing's size changed.
    assert levels["GONE"] == 0
    assert [e["sku"] for e in run.errors if e["code"] == "gone_at_erp"] == ["GONE"]
    # Deleted during the run after its page was read: listed, not zeroed.
    assert levels["S20"] == 6
    # Moved across boundaries, none skipped: every live variant as listed.
    expected = dict.fromkeys([s for s in SKUS if s != "S20"], 6) | {"S07": 9}
    assert {sku: levels[sku] for sku in expected} == expected
    # Read on two pages, applied as one change.
    level = StockLevel.objects.get(sku="S07")
    assert (level.on_hand, level.sold_unseen) == (9, 0)


def test_growth_hiding_a_deletion_before_the_boundary_is_not_a_silent_skip(
    account, gecko
):
    """Page 1 read; then S20, S19 and S18 deleted on it, NEW created and R3
    and R4 (old ids, archived) restored past the boundary: the size is as
    before, but S16 moved to place 7 and S15 to place 8, before page 2 (9 a
    page): skipped. The look-up disproves the boundary: partial, nothing
    zeroed, no deletion checked."""
    gecko.variants += [_variant(3, "R3", "archived"), _variant(4, "R4", "archived")]

    def meanwhile() -> None:
        for sku in ("S20", "S19", "S18"):
            gecko.set_status(sku, "archived")
        gecko.create(260, "NEW")
        gecko.set_status("R3", "active")
        gecko.set_status("R4", "active")

    gecko.writes[1] = meanwhile

    run = gecko.sync(account, full=True)

    assert run.status == SyncStatus.PARTIAL
    assert "listing_shifted" in [e["code"] for e in run.errors]
    assert not [e for e in run.errors if e["code"] == "gone_at_erp"]
    levels = synced_levels()
    assert levels["S15"] == 6  # skipped, not zeroed
    assert levels["GONE"] == 6  # this run proves no deletion
