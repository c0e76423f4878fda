"""inv26: a full TradeGecko run whose totals are trusted asks each next page
so that it starts before the place the page before ended (it holds that
page's last variant again: the boundary is proven at no request more,
tradegecko_paging). Those re-read variants were counted in ``items_seen``
once for each page that held them: a run over 25 variants "saw" more than
25 levels. Each variant's levels are counted once."""

import pytest

from inventory.models import SyncStatus
from tests.inventory.paged_erp import SKUS, gecko_paged_account, synced_levels
from tests.inventory.test_inv24_growth_and_deletion import StagedGecko
from tests.inventory.test_revinv20_restored_variant import _variant

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(settings):
    return gecko_paged_account(settings)


def _two_locations(variant: dict) -> dict:
    rows = [
        {"location_id": 159, "stock_on_hand": "6"},
        {"location_id": 160, "stock_on_hand": "4"},
    ]
    return {**variant, "locations": rows}


def test_a_full_run_counts_each_variant_once_though_pages_overlap(account):
    gecko = StagedGecko([_variant(n * 10, sku) for n, sku in enumerate(SKUS, 1)])

    run = gecko.sync(account, full=True)

    assert run.status == SyncStatus.SUCCEEDED, run.errors
    limits = [int(asked["limit"]) for asked in gecko.asked]
    assert len(gecko.asked) > 1 and limits != [10] * len(limits)  # pages overlap
    assert run.items_seen == len(SKUS) == len(synced_levels())


def test_a_variant_at_two_locations_read_again_counts_both_once(account):
    gecko = StagedGecko(
        [_two_locations(_variant(n * 10, sku)) for n, sku in enumerate(SKUS, 1)]
    )

    run = gecko.sync(account, full=True)

    assert run.status == SyncStatus.SUCCEEDED, run.errors
    # Location 160 is not one of ours: read, counted, not stored.
    assert run.items_seen == 2 * len(SKUS)


def test_a_variant_created_mid_run_is_counted_once_too(account):
    """A creation joins before every page: page 1's last variant moves onto
    page 2 and is read again there (the boundary it proves)."""
    gecko = StagedGecko([_variant(n * 10, sku) for n, sku in enumerate(SKUS, 1)])
    gecko.writes[1] = lambda: gecko.create(900, "NEW")

    run = gecko.sync(account, full=True)

    # NEW is before every page read after it: read by none.
    assert run.items_seen == len(SKUS)
    assert "NEW" not in synced_levels()
