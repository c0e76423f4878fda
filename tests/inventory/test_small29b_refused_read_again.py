"""small29b: a full TradeGecko run reads each next page from before the
place the page before ended (tradegecko_paging), so a variant can be read on
two pages. Its levels were counted once in ``items_seen`` (inv26) but a level
refused on both pages was counted twice in ``items_failed`` and listed twice
among the run's ``invalid_level`` errors. Each refused level counts once."""

import pytest

from inventory.models import SyncStatus
from tests.inventory.paged_erp import SKUS, gecko_paged_account, synced_levels
from tests.inventory.test_inv24_growth_and_deletion import StagedGecko
from tests.inventory.test_revinv20_restored_variant import _variant

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(settings):
    return gecko_paged_account(settings)


def _with_rows(variant: dict, bad_row: object) -> dict:
    return {**variant, "locations": [*variant["locations"], bad_row]}


def _refused(run) -> list[tuple[str, str]]:
    return [
        (e["sku"], e["message"]) for e in run.errors if e.get("code") == "invalid_level"
    ]


def _overlapping(gecko: StagedGecko) -> None:
    limits = [int(asked["limit"]) for asked in gecko.asked]
    assert len(gecko.asked) > 1 and limits != [10] * len(limits)


def test_a_row_the_adapter_refuses_on_two_pages_counts_once(account):
    """Each variant has a location row that is no object: refused by the
    adapter (tradegecko_variants), once per variant."""
    gecko = StagedGecko(
        [_with_rows(_variant(n * 10, sku), "bad") for n, sku in enumerate(SKUS, 1)]
    )

    run = gecko.sync(account, full=True)

    _overlapping(gecko)
    assert run.status == SyncStatus.SUCCEEDED, run.errors
    refused = _refused(run)
    assert sorted(sku for sku, _ in refused) == SKUS
    assert run.items_failed == len(SKUS)
    assert run.items_seen == len(SKUS) == len(synced_levels())


def test_a_figure_our_columns_refuse_on_two_pages_counts_once(account):
    """A figure beyond what is stored (base.storable_levels, after the
    adapter read it) on every variant's second location."""
    row = {"location_id": 160, "stock_on_hand": str(10**12)}
    gecko = StagedGecko(
        [_with_rows(_variant(n * 10, sku), row) for n, sku in enumerate(SKUS, 1)]
    )

    run = gecko.sync(account, full=True)

    _overlapping(gecko)
    assert run.status == SyncStatus.SUCCEEDED, run.errors
    assert sorted(sku for sku, _ in _refused(run)) == SKUS
    assert run.items_failed == len(SKUS)
    assert run.items_seen == len(SKUS)
