"""A full TradeGecko run whose every boundary is proven checks deletions
though its listing changed size (sync_gone). A variant archived with no
webhook (our level stays) and restored with its old id after its page was
read is live but missing from the run: it was zeroed and named
``gone_at_erp``. Each level the run would set to 0 is now looked up at
TradeGecko by its SKU first (``GET /variants?sku=``, outside the run's
transactions, a bounded number a run): one still live keeps its figure (or
takes the look-up's), one gone is set to 0 as before, and one not looked
up (over the bound, or the look-up failed) is left for the next run with a
note. Built from TradeGecko's recorded variant shape (provider-specs/
tradegecko: ``variants.yml``)."""

import pytest
from django.db import connection

from inventory.models import StockLevel, SyncStatus
from tests.inventory.paged_erp import SKUS, gecko_paged_account, synced_levels
from tests.inventory.test_inv24_growth_and_deletion import StagedGecko
from tests.inventory.test_revinv20_restored_variant import _variant

pytestmark = pytest.mark.django_db


class FilteringGecko(StagedGecko):
    """StagedGecko, its look-ups by SKU answering 500 for ``failing_skus``."""

    def __init__(self, variants: list[dict]) -> None:
        super().__init__(variants)
        self.failing_skus: set[str] = set()

    def look_up(self, sku: str):
        if sku in self.failing_skus:
            self.looked_up.append(sku)
            return 500, {}, "{}"
        return super().look_up(sku)


@pytest.fixture
def account(settings):
    return gecko_paged_account(settings)


@pytest.fixture
def gecko(account) -> FilteringGecko:
    """S01 .. S25 (ids 10 .. 250), R (id 205) and GONE (id 5), synced at 6
    each; then R and GONE archived at TradeGecko with no webhook."""
    gecko = FilteringGecko(
        [_variant(5, "GONE"), _variant(205, "R")]
        + [_variant(n * 10, sku) for n, sku in enumerate(SKUS, start=1)]
    )
    assert gecko.sync(account, full=True).status == SyncStatus.SUCCEEDED
    assert synced_levels()["R"] == 6
    gecko.set_status("R", "archived")
    gecko.set_status("GONE", "archived")
    return gecko


def _gone_named(run) -> list[str]:
    return [e["sku"] for e in run.errors if e["code"] == "gone_at_erp"]


def test_a_variant_restored_after_its_page_was_read_is_not_zeroed(account, gecko):
    # Page 1 (S25 .. S16, R archived) read; then R restored with its old id
    # onto page 1: the size grows, S16 moves to page 2, read again there
    # (every boundary proven), and R is read by no page.
    gecko.writes[1] = lambda: gecko.set_status("R", "active")

    run = gecko.sync(account, full=True)

    assert run.status == SyncStatus.SUCCEEDED, run.errors
    levels = synced_levels()
    assert levels["R"] == 6
    assert "R" not in _gone_named(run)
    # Really gone: still set to 0 and named.
    assert levels["GONE"] == 0
    assert _gone_named(run) == ["GONE"]
    assert sorted(gecko.looked_up) == ["GONE", "R"]


def test_a_restored_variant_takes_the_look_up_figure(account, gecko):
    def restored() -> None:
        gecko.set_status("R", "active")
        gecko.restock("R", 4)

    gecko.writes[1] = restored

    run = gecko.sync(account, full=True)

    level = StockLevel.objects.get(sku="R")
    assert level.on_hand == 4
    assert "R" not in _gone_named(run)


def test_a_failed_look_up_leaves_the_listings_word(account, gecko):
    # Unasked, a level the full listing missed is gone as before look-ups:
    # kept, an item deleted at the ERP would stay on sale.
    gecko.failing_skus = {"GONE"}

    run = gecko.sync(account, full=True)

    levels = synced_levels()
    assert levels["GONE"] == 0
    assert levels["R"] == 0  # archived all run long, looked up gone
    assert sorted(_gone_named(run)) == ["GONE", "R"]
    notes = [e for e in run.errors if e["code"] == "gone_unconfirmed"]
    assert len(notes) == 1 and notes[0]["message"].startswith("1 level")
    assert run.status == SyncStatus.SUCCEEDED


def test_look_ups_are_bounded_per_run(account, gecko, settings):
    settings.INVENTORY_SYNC_GONE_LOOKUPS = 1

    run = gecko.sync(account, full=True)

    assert len(gecko.looked_up) == 1
    assert sorted(_gone_named(run)) == ["GONE", "R"]
    assert [e["code"] for e in run.errors].count("gone_unconfirmed") == 1
    assert synced_levels()["R"] == synced_levels()["GONE"] == 0


def test_a_restored_variant_past_the_bound_is_set_to_0_and_noted(
    account, gecko, settings
):
    """The bound's cost: an item restored beyond it errs low for a run."""
    settings.INVENTORY_SYNC_GONE_LOOKUPS = 0
    gecko.writes[1] = lambda: gecko.set_status("R", "active")

    run = gecko.sync(account, full=True)

    assert gecko.looked_up == []
    assert synced_levels()["R"] == 0
    notes = [e for e in run.errors if e["code"] == "gone_unconfirmed"]
    assert len(notes) == 1


@pytest.mark.django_db(transaction=True)
def test_look_ups_hold_no_transaction_open(settings):
    account = gecko_paged_account(settings)
    gecko = FilteringGecko(
        [_variant(5, "GONE")]
        + [_variant(n * 10, sku) for n, sku in enumerate(SKUS, start=1)]
    )
    gecko.sync(account, full=True)
    gecko.set_status("GONE", "archived")
    in_transaction: list[bool] = []
    look_up = gecko.look_up

    def watched(sku: str):
        in_transaction.append(connection.in_atomic_block)
        return look_up(sku)

    gecko.look_up = watched

    gecko.sync(account, full=True)

    assert in_transaction == [False]
    assert synced_levels()["GONE"] == 0
