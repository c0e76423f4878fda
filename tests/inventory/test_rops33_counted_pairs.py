"""r-ops33: the (SKU, location) pairs a TradeGecko run keeps in its position
so an overlapping page's levels are counted once (``SyncPosition.counted``,
ops33). They are the page before's only, never a growing list; and a run that
ended keeps none: every finished run stored its last page's pairs for good,
read with each row of the admin's run list and printed on the run's page."""

import pytest

from inventory.services import sync
from tests.inventory.paged_erp import SKUS, gecko_paged_account
from tests.inventory.test_inv24_growth_and_deletion import StagedGecko
from tests.inventory.test_revinv20_restored_variant import _variant

pytestmark = pytest.mark.django_db


@pytest.fixture
def saved(monkeypatch) -> list[int]:
    """How many pairs each page's saved position held."""
    sizes: list[int] = []
    real = sync._page_apply

    def page_apply(run, read, window, position):
        sizes.append(len(position.counted))
        return real(run, read, window, position)

    monkeypatch.setattr(sync, "_page_apply", page_apply)
    return sizes


def test_the_pairs_kept_are_one_page_s_at_most(settings, saved):
    account = gecko_paged_account(settings)
    gecko = StagedGecko([_variant(n * 10, sku) for n, sku in enumerate(SKUS, 1)])

    run = gecko.sync(account, full=True)

    assert run.items_seen == len(SKUS)
    assert len(saved) >= 3
    # A page holds ten variants of one location each.
    assert max(saved) <= settings.INVENTORY_SYNC_PAGE_SIZE


def test_a_finished_run_keeps_no_pairs(settings):
    account = gecko_paged_account(settings)
    gecko = StagedGecko([_variant(n * 10, sku) for n, sku in enumerate(SKUS, 1)])

    run = gecko.sync(account, full=True)

    run.refresh_from_db()
    assert run.status == "succeeded"
    assert run.position["counted"] == []
