"""A full TradeGecko run checked each page boundary with a request of its
own (``limit=1`` at the place before the page): 799 requests for 100,000
variants at 250 a page. Where the totals are trusted, the next page is now
asked with a limit that makes it start before that place, so it holds the
page before's last variant again: found there, nothing past it was
skipped, at no request more. The guard of revinv20 (a deletion before the
boundary and a restore past it keep the total) still holds: a variant
moved past the page is never zeroed as gone."""

import json

import pytest
import responses

from inventory.models import SyncStatus
from inventory.providers.base import LevelsQuery
from inventory.providers.tradegecko import TradeGeckoAdapter
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.paged_erp import (
    SKUS,
    gecko_paged_account,
    gecko_variant,
    synced_levels,
)
from tests.inventory.test_revinv20_restored_variant import SoftDeletingGecko, _variant

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(settings):
    return gecko_paged_account(settings)


def _gecko(archived: tuple[int, ...] = ()) -> SoftDeletingGecko:
    # Ids 10, 20, ... 250 (S01 oldest); the archived ids below them.
    live = [_variant(n * 10, sku) for n, sku in enumerate(SKUS, start=1)]
    gone = [_variant(i, f"R{i}", "archived") for i in archived]
    return SoftDeletingGecko(gone + live)


def _probes(gecko: SoftDeletingGecko) -> list[dict]:
    # The boundary look-ups (revinv22: the smallest page, of 2 or more,
    # holding the place before a page and its first place); pages ask 6-10.
    return [asked for asked in gecko.asked if int(asked["limit"]) <= 3]


def test_a_full_run_asks_no_place_of_its_own(account):
    gecko = _gecko()

    run = gecko.sync(account, full=True)

    assert run.status == SyncStatus.SUCCEEDED
    assert synced_levels() == dict.fromkeys(SKUS, 6)
    assert _probes(gecko) == []
    # Places 1-10, 10-18 (9 a page: page 2), 17-24 (8 a page: page 3),
    # 21-30 (page 3 of 10): each starts before the place the one before
    # ended, and holds its last variant again.
    ends = []
    for asked in gecko.asked:
        page, limit = int(asked["page"]), int(asked["limit"])
        assert limit <= 10
        assert not ends or (page - 1) * limit < ends[-1]
        ends.append(page * limit)
    assert len(gecko.asked) == 4  # was 5: pages 1-3 and two places


def test_a_deletion_before_the_boundary_and_a_restore_past_it(account):
    """Page 1 read (S25 .. S16); then S25 and S24 are deleted and R5 and
    R6, with old ids, restored: the total stays 25, S16 moves back two
    places and S15 onto the place page 2 no longer holds. S15 is live and
    must not be zeroed as gone; the run says the listing moved."""
    gecko = _gecko(archived=(5, 6))
    first = gecko.sync(account, full=True)
    assert first.status == SyncStatus.SUCCEEDED

    def meanwhile() -> None:
        for sku in ("S25", "S24"):
            gecko.set_status(sku, "archived")
        for sku in ("R5", "R6"):
            gecko.set_status(sku, "active")

    gecko.between = meanwhile

    run = gecko.sync(account, full=True)

    assert synced_levels()["S15"] == 6
    assert not [e for e in run.errors if e["code"] == "gone_at_erp"]
    assert run.status == SyncStatus.PARTIAL
    assert "listing_shifted" in [e["code"] for e in run.errors]


def test_a_boundary_moved_one_place_back_is_proven_by_the_page_first_place(account):
    """One deletion before the boundary and one restore past it: S16, page
    1's last, now sits just before page 2, whose first place follows it:
    nothing was skipped (asked at that place, as before)."""
    gecko = _gecko(archived=(5,))
    gecko.sync(account, full=True)

    def meanwhile() -> None:
        gecko.set_status("S25", "archived")
        gecko.set_status("R5", "active")

    gecko.between = meanwhile
    asked_before = len(gecko.asked)

    run = gecko.sync(account, full=True)

    assert run.status == SyncStatus.SUCCEEDED
    levels = synced_levels()
    assert {sku: levels[sku] for sku in SKUS[:-1]} == dict.fromkeys(SKUS[:-1], 6)
    assert levels["R5"] == 6
    assert len(_probes(gecko)[asked_before:]) <= 1


def test_a_creation_before_the_boundary_is_read_again_not_skipped(account):
    gecko = _gecko()
    gecko.sync(account, full=True)
    gecko.between = lambda: gecko.variants.append(_variant(260, "NEW"))

    run = gecko.sync(account, full=True)

    assert run.status == SyncStatus.SUCCEEDED
    assert {sku: synced_levels()[sku] for sku in SKUS} == dict.fromkeys(SKUS, 6)


def _page(rows: list[dict], total: int) -> tuple[int, dict, str]:
    headers = {"X-Pagination": json.dumps({"total_records": total})}
    return 200, headers, json.dumps({"variants": rows})


def test_a_failed_overlapping_page_is_stepped_past_with_the_total_to_check_by():
    rows = [gecko_variant(n, f"S{n:02d}", 6) for n in range(25, 0, -1)]
    adapter = TradeGeckoAdapter(tg.make_account())
    with responses.RequestsMock() as rsps:
        asked: list[tuple[int, int]] = []

        def answer(request):
            page, limit = int(request.params["page"]), int(request.params["limit"])
            asked.append((page, limit))
            return _page(rows[(page - 1) * limit : page * limit], total=25)

        rsps.add_callback(responses.GET, tg.VARIANTS, callback=answer)
        first = adapter.levels(LevelsQuery(limit=10))
        failed = adapter.cursor_after(LevelsQuery(limit=10, cursor=first.next_cursor))
        rsps.replace(responses.GET, tg.VARIANTS, body="")
        rsps.add_callback(responses.GET, tg.VARIANTS, callback=answer)
        after = adapter.levels(LevelsQuery(limit=10, cursor=failed))

    assert first.next_cursor == "2::16:d25"
    # Page 2 would be asked 9 a page (places 10-18): past it, place 18.
    assert failed == "18:::o25"
    page, limit = asked[-1]
    assert (page - 1) * limit < 18 < page * limit  # overlapping, no probe
    assert len(asked) == 2
    assert not after.shifted
