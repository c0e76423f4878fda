"""ops33: two of a sync's figures were not what they said.

(a) "failed pages" counted the run's error entries naming a cursor, which
stop at 50 (MAX_ERRORS_KEPT): a run with more failed pages showed 50 (or
fewer, when refused levels had taken the slots). The run now counts every
failed page, whatever its errors keep.

(b) ``items_seen`` took off a TradeGecko page's re-read variants by their
place (``read_again``): a re-read variant that had gained a location
between the two pages, or one restored meanwhile, was counted as read
before though its new level never was: the run saw one level more than it
said. A page's levels are now counted once against the levels the page
before counted, by (SKU, location)."""

import contextlib
import io

import pytest
from django.core.management import CommandError, call_command

from integrations.errors import NotProcessed
from inventory.models import SandboxErpLevel, SyncRun, SyncStatus
from inventory.providers.base import offset_from_cursor
from inventory.providers.sandbox import SandboxInventoryAdapter
from inventory.services.sync_pages import MAX_ERRORS_KEPT
from tests.factories import ProviderAccountFactory
from tests.inventory.paged_erp import SKUS, gecko_paged_account
from tests.inventory.test_inv24_growth_and_deletion import StagedGecko
from tests.inventory.test_revinv20_restored_variant import _variant

pytestmark = pytest.mark.django_db

PAGES = 2 * (MAX_ERRORS_KEPT + 5)


@pytest.fixture
def every_other_page_fails(monkeypatch):
    answer = SandboxInventoryAdapter.levels

    def levels(self, query):
        if offset_from_cursor(query.cursor) % 2:
            raise NotProcessed("the ERP is busy", code="provider_unavailable")
        return answer(self, query)

    monkeypatch.setattr(SandboxInventoryAdapter, "levels", levels)


@pytest.mark.usefixtures("every_other_page_fails")
def test_failed_pages_past_the_errors_cap_are_all_counted(settings, admin_client):
    settings.INVENTORY_SYNC_PAGE_SIZE = 1
    erp = ProviderAccountFactory(kind="inventory", slug="erp-flaky")
    SandboxErpLevel.objects.bulk_create(
        SandboxErpLevel(account=erp, sku=f"S{n:03d}", location_code="MAIN", on_hand=n)
        for n in range(PAGES)
    )
    out = io.StringIO()
    with contextlib.suppress(CommandError):
        call_command("sync_inventory", "--account", erp.slug, stdout=out)

    run = SyncRun.objects.get(account=erp)
    assert run.status == SyncStatus.PARTIAL
    assert len(run.errors) == MAX_ERRORS_KEPT  # what staff read is capped
    failed = PAGES // 2
    assert run.items_seen == PAGES - failed
    row = next(x for x in out.getvalue().splitlines() if x.startswith(erp.slug))
    assert row.split()[5] == str(failed)
    assert (
        out.getvalue()
        .split("\r")[-1]
        .splitlines()[0]
        .endswith(f"failed pages {failed}")
    )
    page = admin_client.get("/admin/inventory/syncrun/").content.decode()
    assert f'<td class="field-failed_pages_shown">{failed}</td>' in page


def test_a_re_read_variant_s_new_level_is_counted(settings):
    account = gecko_paged_account(settings)
    gecko = StagedGecko([_variant(n * 10, sku) for n, sku in enumerate(SKUS, 1)])
    # Page 1 reads S25 .. S16, page 2 (9 a page) reads S16 again: between
    # the two S16 gains a second location, a level page 1 never read.
    s16 = next(v for v in gecko.variants if v["sku"] == "S16")
    second = {"location_id": 160, "stock_on_hand": "3"}
    gecko.writes[1] = lambda: s16.update(locations=[*s16["locations"], second])

    run = gecko.sync(account, full=True)

    assert not [e for e in run.errors if "cursor" in e], run.errors
    assert run.items_seen == len(SKUS) + 1
