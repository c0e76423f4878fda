"""TradeGecko pages by number only. A full run asks in descending id
order: a variant created meanwhile takes the newest id and joins before
every page (read twice, none skipped), and a deletion makes the listing's
total fall (the page is marked at no request more). The totals were meant
to spare the ``limit=1`` probe of each boundary, but TradeGecko deletes
softly and a restored variant comes back with its old id at any place
(revinv20), so a total that did not fall proves nothing: a boundary not
found again on the next page is still asked at its place."""

import pytest
import responses

from inventory.models import SyncStatus
from inventory.providers.base import LevelsQuery
from inventory.providers.tradegecko import TradeGeckoAdapter
from inventory.services.sync import next_since
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.paged_erp import gecko_variant, synced_levels
from tests.inventory.test_invx_tradegecko_shift import PagedGecko, account

pytestmark = pytest.mark.django_db

__all__ = ["account"]  # the TradeGecko account fixture (page size 2)

LATER = "2026-11-02T08:00:00.000Z"


class OrderedGecko(PagedGecko):
    """The listing in the id order asked (``order=id ASC`` / ``id DESC``)."""

    def answer(self, request):
        order = request.params.get("order", "").lower()
        if order in ("id asc", "id desc"):
            self.variants.sort(key=lambda v: v["id"], reverse=order == "id desc")
        return super().answer(request)


def _gecko(skus: str = "ABCDEF") -> OrderedGecko:
    return OrderedGecko([gecko_variant(n, s, 6) for n, s in enumerate(skus, start=1)])


def _probes(gecko: PagedGecko) -> list[dict]:
    # The look-ups (revinv22: the place before a page and its first place in
    # one answer, 3 a page here); the pages are asked 2 a page.
    return [asked for asked in gecko.asked if asked["limit"] != "2"]


def test_a_full_run_checks_each_boundary_by_its_place(account):
    # revinv20: the totals prove no boundary (a variant restored at
    # TradeGecko comes back with its old id), so the probe stays.
    gecko = _gecko()

    run = gecko.sync(account, full=True)

    assert run.status == SyncStatus.SUCCEEDED
    assert run.pages == 3
    assert len(gecko.asked) == 5  # pages 1-3 and the places before 2 and 3
    assert [(p["limit"], p["page"]) for p in _probes(gecko)] == [
        ("3", "1"),
        ("3", "2"),
    ]
    assert {asked["order"] for asked in gecko.asked} == {"id DESC"}
    assert synced_levels() == dict.fromkeys("ABCDEF", 6)


def test_a_deletion_and_a_creation_between_pages_zero_no_live_variant(account):
    """Read F, E; then A is deleted and G created (the newest id): G joins
    before page 2, which answers E again and D; nothing live is skipped, A
    alone is gone, and C's change meanwhile is read by this run."""
    gecko = _gecko()
    gecko.sync(account, full=True)

    def meanwhile() -> None:
        gecko.variants[:] = [v for v in gecko.variants if v["sku"] != "A"]
        gecko.variants.append(gecko_variant(7, "G", 1, updated=LATER))
        found = next(i for i, v in enumerate(gecko.variants) if v["sku"] == "C")
        gecko.variants[found] = gecko_variant(3, "C", 9, updated=LATER)

    gecko.between = meanwhile
    asked_before = len(gecko.asked)

    run = gecko.sync(account, full=True)

    # E, page 1's last, is found again on page 2: only page 3's boundary
    # is asked at its place (revinv20).
    assert [p["limit"] for p in gecko.asked[asked_before:]] == ["2", "2", "2", "3"]
    levels = synced_levels()
    assert {sku: levels[sku] for sku in "BCDEF"} == {
        "B": 6,
        "C": 9,
        "D": 6,
        "E": 6,
        "F": 6,
    }
    assert levels["A"] == 0
    assert [e["sku"] for e in run.errors if e["code"] == "gone_at_erp"] == ["A"]
    assert run.status == SyncStatus.SUCCEEDED


def test_a_deletion_alone_between_pages_is_a_shifted_listing(account):
    """F and E read, then E deleted: D moves onto page 1, already read, and
    the total falls: the run notes it, zeroes nothing and keeps "since"."""
    gecko = _gecko()
    first = gecko.sync(account, full=True)
    assert first.status == SyncStatus.SUCCEEDED
    since = next_since(account)
    gecko.between = lambda: gecko.variants.remove(
        next(v for v in gecko.variants if v["sku"] == "E")
    )

    asked_before = len(gecko.asked)

    run = gecko.sync(account, full=True)

    # The total fell at page 2: its place is looked up (inv24: a fall alone
    # proves no skip), and the look-up (F, D, C) disproves the boundary.
    probes = [a for a in gecko.asked[asked_before:] if a["limit"] != "2"]
    assert ("3", "1") in [(a["limit"], a["page"]) for a in probes]
    assert run.status == SyncStatus.PARTIAL
    assert [e["code"] for e in run.errors] == ["listing_shifted"]
    assert synced_levels()["D"] == 6  # skipped, not zeroed
    assert next_since(account) == since


def test_a_page_out_of_the_order_asked_is_checked_by_its_place(account):
    """An ERP that ignored ``id DESC`` (ids ascending on the page): the
    totals prove nothing, so the place before the next page is asked."""
    gecko = PagedGecko([gecko_variant(n, s, 6) for n, s in enumerate("ABCD", start=1)])

    run = gecko.sync(account, full=True)

    assert run.status == SyncStatus.SUCCEEDED
    assert [(p["limit"], p["page"]) for p in _probes(gecko)] == [("3", "1")]


def test_a_failed_page_keeps_the_order_and_the_total_to_check_by(account):
    def page(rows: list[dict], total: int = 6) -> dict:
        return {"variants": rows, "meta": {"total": total}}

    first = [gecko_variant(6, "F", 6), gecko_variant(5, "E", 6)]
    adapter = TradeGeckoAdapter(account)
    with responses.RequestsMock() as rsps:
        rsps.get(tg.VARIANTS, json=page(first))
        after = adapter.levels(LevelsQuery(limit=2)).next_cursor
        failed = adapter.cursor_after(LevelsQuery(limit=2, cursor=after))
        rsps.get(tg.VARIANTS, json=page([gecko_variant(2, "B", 6)], total=5))
        third = adapter.levels(LevelsQuery(limit=2, cursor=failed))
        urls = [call.request.url for call in rsps.calls]

    assert after == "2::5:d6"
    assert failed == "3:::d6"
    assert "page=3" in urls[-1] and "order=id+DESC" in urls[-1]
    assert len(urls) == 2  # no probe: the total fell, so it shifted
    assert third.shifted and not third.has_more


def test_an_incremental_run_still_asks_in_ascending_order(account):
    gecko = _gecko()
    gecko.sync(account, full=True)

    gecko.sync(account, full=False)

    assert gecko.asked[-1]["order"] == "id ASC"
