"""TradeGecko pages its variant listing by number (``limit``/``page``, the
size in ``meta.total``; provider spec: the gecko client's recordings). A
variant deleted before the page boundary while the run reads its pages moves
the first variant of the next page onto the page already read: the run
never lists it. A variant created meanwhile keeps the listing's size, so the
size check did not see it: the skipped variant was zeroed as gone at the ERP,
and its new level missed (the run moved "since" past it). The boundary is
checked by id: the last variant of the page before must still end it, or
have moved onto the page read."""

import json
from datetime import datetime

import pytest
import responses
from responses.matchers import query_param_matcher

from inventory.models import SyncRun, SyncStatus
from inventory.providers.base import LevelsQuery
from inventory.providers.tradegecko import TradeGeckoAdapter
from inventory.services.sync import next_since
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.paged_erp import (
    GeckoListing,
    gecko_variant,
    paged_account,
    synced_levels,
)

pytestmark = pytest.mark.django_db


class PagedGecko(GeckoListing):
    """TradeGecko's page-numbered listing over ``variants`` (in id order),
    honouring ``updated_at_min``; ``between`` runs after the listing's first
    page of a run is answered (what happens at TradeGecko meanwhile)."""

    def answer(self, request):
        params = dict(request.params)
        if "sku" in params:
            return self.look_up(params["sku"])
        self.asked.append(params)
        listed = self.variants
        if "updated_at_min" in params:
            since = datetime.fromisoformat(params["updated_at_min"])
            listed = [
                v for v in listed if datetime.fromisoformat(v["updated_at"]) >= since
            ]
        limit, page = int(params["limit"]), int(params.get("page", 1))
        rows = listed[(page - 1) * limit : page * limit]
        body = {"variants": rows, "meta": {"total": len(listed)}}
        if page == 1 and limit > 1 and self.between is not None:
            self.between, between = None, self.between
            between()
        return 200, {"Content-Type": "application/json"}, json.dumps(body)


@pytest.fixture
def account(settings):
    return paged_account(settings, tg.make_account, "159")


def _shift_with_same_size(gecko: PagedGecko, now: str) -> None:
    """After page 1 is read: A (page 1) is deleted, E created (at the end),
    and C, now first on page 2, moves onto page 1; C's stock changes too."""

    def meanwhile() -> None:
        gecko.variants[:] = [v for v in gecko.variants if v["sku"] != "A"]
        gecko.variants.append(gecko_variant(5, "E", 1, updated=now))
        gecko.variants[1] = gecko_variant(3, "C", 9, updated=now)

    gecko.between = meanwhile


def _between_runs(run: SyncRun) -> str:
    # C changed at TradeGecko after the first run, before the second began.
    return run.finished_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_a_variant_shifted_past_is_neither_zeroed_nor_its_level_lost(account, settings):
    settings.INVENTORY_SYNC_SINCE_MARGIN_SECONDS = 0
    gecko = PagedGecko([gecko_variant(n, s, 6) for n, s in enumerate("ABCD", start=1)])
    first = gecko.sync(account, full=True)
    assert first.status == SyncStatus.SUCCEEDED
    assert synced_levels() == dict.fromkeys("ABCD", 6)
    since = next_since(account)
    _shift_with_same_size(gecko, _between_runs(first))

    shifted = gecko.sync(account, full=True)

    # C is still at TradeGecko: not zeroed as gone.
    assert synced_levels()["C"] != 0
    assert not [e for e in shifted.errors if e["code"] == "gone_at_erp"]
    # The run says its listing moved, and does not move "since" past C.
    assert shifted.status == SyncStatus.PARTIAL
    assert [e["code"] for e in shifted.errors] == ["listing_shifted"]
    assert next_since(account) == since
    # So the next run reads C's new level.
    gecko.sync(account, full=False)
    assert synced_levels()["C"] == 9


def test_an_unmoved_listing_still_zeroes_what_is_gone(account):
    gecko = PagedGecko([gecko_variant(n, s, 6) for n, s in enumerate("ABCD", start=1)])
    gecko.sync(account, full=True)
    del gecko.variants[1]  # B deleted before the run

    run = gecko.sync(account, full=True)

    assert run.status == SyncStatus.SUCCEEDED
    assert synced_levels() == {"A": 6, "B": 0, "C": 6, "D": 6}
    assert [e["sku"] for e in run.errors if e["code"] == "gone_at_erp"] == ["B"]


def test_a_variant_created_before_the_boundary_shifts_nothing_past(account):
    """A creation before the boundary moves page 1's last variant onto page
    2: read twice, none skipped, the run stands (the new variant, changed
    after the run began, is the next run's)."""
    gecko = PagedGecko([gecko_variant(n, s, 6) for n, s in enumerate("ABCD", start=1)])
    gecko.sync(account, full=True)
    gecko.between = lambda: gecko.variants.insert(0, gecko_variant(9, "Z", 2))

    run = gecko.sync(account, full=True)

    assert run.status == SyncStatus.SUCCEEDED
    assert synced_levels() == dict.fromkeys("ABCD", 6)


def _adapter_page(account, cursor: str, rows: list[dict], probe: list[dict] | None):
    with responses.RequestsMock() as rsps:
        rsps.get(
            tg.VARIANTS,
            json={"variants": rows},
            match=[query_param_matcher({"limit": "2", "page": "2", **tg.ORDER})],
        )
        if probe is not None:
            rsps.get(
                tg.VARIANTS,
                json={"variants": probe},
                # The look-up (revinv22): places 0-2, the smallest page holding
                # the place before page 2 and its first place.
                match=[query_param_matcher({"limit": "3", "page": "1", **tg.ORDER})],
            )
        return TradeGeckoAdapter(account).levels(LevelsQuery(limit=2, cursor=cursor))


def test_without_meta_total_the_boundary_is_checked_too(account):
    """Paged without ``meta.total`` the cursor also carries the page's
    fingerprint (``paging_ignored``); the boundary id follows it."""
    c, d = gecko_variant(3, "C", 6), gecko_variant(4, "D", 6)

    a, b = gecko_variant(1, "A", 6), gecko_variant(2, "B", 6)
    moved = _adapter_page(account, "2:abc:2", [c, d], [a, c, d])
    still = _adapter_page(account, "2:abc:2", [c, d], [a, b, c])

    assert (moved.shifted, still.shifted) == (True, False)
    assert still.next_cursor.startswith("3:") and still.next_cursor.endswith(":4")


def test_a_cursor_saved_before_names_no_boundary_and_asks_no_place(account):
    rows = [gecko_variant(3, "C", 6), gecko_variant(4, "D", 6)]

    page = _adapter_page(account, "2", rows, None)  # only page 2 is answered

    assert not page.shifted and [r.sku for r in page.records] == ["C", "D"]
