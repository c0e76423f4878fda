"""revinv26: ``items_seen`` counts a variant an overlapping page reads
again once (then ``StockLevelPage.read_again``; since ops33 the levels the
page before counted, ``SyncPosition.counted``). The re-read ones were found by
the place of the page before's last variant on the page: deleted at
TradeGecko between the two pages (a common write), it is on no page, and
every variant of the overlap was counted twice. In id order the page
before read every variant past its last one, so those are the re-read
ones, whether the last one is still listed or not."""

import pytest

from inventory.models import SyncStatus
from tests.inventory.paged_erp import SKUS, gecko_paged_account
from tests.inventory.test_inv24_growth_and_deletion import StagedGecko
from tests.inventory.test_revinv20_restored_variant import _variant

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(settings):
    return gecko_paged_account(settings)


def _asked(gecko) -> list[tuple[int, int]]:
    return [(int(a["page"]), int(a["limit"])) for a in gecko.asked]


def test_an_overlap_whose_last_variant_was_deleted_is_counted_once(account):
    gecko = StagedGecko([_variant(n * 10, sku) for n, sku in enumerate(SKUS, 1)])
    # Page 1 reads S25 .. S16 (places 0 .. 9), page 2 (9 a page) S16 ..
    # S08 (9 .. 17), page 3 (8 a page) places 16 .. 23: S09 and S08 again.
    # S08 is deleted once page 2 is read: page 3 reads S09 again.
    gecko.writes[2] = lambda: gecko.set_status("S08", "archived")

    run = gecko.sync(account, full=True)

    # The listing moved under the run (noted): read whole all the same.
    assert run.status in (SyncStatus.SUCCEEDED, SyncStatus.PARTIAL), run.errors
    assert not [e for e in run.errors if "cursor" in e]
    assert _asked(gecko)[:3] == [(1, 10), (2, 9), (3, 8)]
    # Every variant once: S08 read by page 2, deleted after.
    assert run.items_seen == len(SKUS)
