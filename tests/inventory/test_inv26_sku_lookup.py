"""inv26: before a full run sets a level missing from its listing to 0, it
asks TradeGecko ``GET /variants?sku=`` (the variant's documented filter,
"find product variant by SKU": tradegecko/smaug, locales/variant.en.yml).
That answer is a paged index like any other: ``limit`` and ``page``, 50 a
page by default, at most 250 (smaug, "Pagination"), its size in
``X-Pagination`` (provider-specs/tradegecko: ``variants.yml``). The look-up
read only the default first page: a SKU naming more variants than that
(deleted ones, made anew) hid a live one past it, which was zeroed as gone.
It now asks the largest page and follows the pages, up to a bound; an
answer cut at that bound proves nothing gone (``gone_unconfirmed``)."""

import json

import pytest
import responses

from inventory.models import SyncStatus
from inventory.providers import tradegecko_paging
from inventory.providers.tradegecko import TradeGeckoAdapter
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.paged_erp import SKUS, gecko_paged_account, synced_levels
from tests.inventory.test_inv24_growth_and_deletion import StagedGecko
from tests.inventory.test_revinv20_restored_variant import _variant

pytestmark = pytest.mark.django_db

DEFAULT_LIMIT, MAX_LIMIT = 50, 250


class ManyVariantsGecko(StagedGecko):
    """StagedGecko whose ``?sku=`` look-up answers as TradeGecko pages an
    index: ``dead[sku]`` (archived variants of that SKU, listed first) then
    the SKU's live variants, ``limit`` (default 50, at most 250) a page."""

    def __init__(self, variants: list[dict]) -> None:
        super().__init__(variants)
        self.dead: dict[str, list[dict]] = {}
        # How many of ``dead[sku]`` come before its live ones (default all).
        self.live_at: dict[str, int] = {}
        self.look_ups: list[dict] = []

    def answer(self, request):
        params = dict(request.params)
        if "sku" not in params:
            return super().answer(request)
        self.look_ups.append(params)
        self.looked_up.append(params["sku"])
        dead = self.dead.get(params["sku"], [])
        at = self.live_at.get(params["sku"], len(dead))
        live = [
            v
            for v in self.variants
            if v["sku"] == params["sku"] and v.get("status") != "archived"
        ]
        rows = [*dead[:at], *live, *dead[at:]]
        limit = min(int(params.get("limit", DEFAULT_LIMIT)), MAX_LIMIT)
        page = int(params.get("page", 1))
        pages = -(-len(rows) // limit)
        pagination = {
            "total_records": len(rows),
            "total_pages": pages,
            "first_page": page == 1,
            "last_page": page >= pages,
            "out_of_bounds": page > pages,
            "offset": (page - 1) * limit,
        }
        body = {"variants": rows[(page - 1) * limit : page * limit]}
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Pagination": json.dumps(pagination),
        }
        return 200, headers, json.dumps(body)

    def bury(self, sku: str, count: int) -> None:
        """``count`` archived variants of ``sku`` (deleted, made anew)."""
        self.dead[sku] = [
            _variant(100_000 + n, sku, status="archived") for n in range(count)
        ]


@pytest.fixture
def account(settings):
    return gecko_paged_account(settings)


@pytest.fixture
def gecko(account) -> ManyVariantsGecko:
    """S01 .. S25, R (id 205) and GONE (id 5), synced at 6 each; then R
    and GONE archived with no webhook, R restored once page 1 is read: R
    is live but read by no page, GONE is gone."""
    gecko = ManyVariantsGecko(
        [_variant(5, "GONE"), _variant(205, "R")]
        + [_variant(n * 10, sku) for n, sku in enumerate(SKUS, start=1)]
    )
    assert gecko.sync(account, full=True).status == SyncStatus.SUCCEEDED
    gecko.set_status("R", "archived")
    gecko.set_status("GONE", "archived")
    gecko.writes[1] = lambda: gecko.set_status("R", "active")
    return gecko


def _codes(run, code: str) -> list:
    return [e for e in run.errors if e["code"] == code]


@pytest.mark.parametrize("buried", [DEFAULT_LIMIT + 10, MAX_LIMIT + 10])
def test_a_live_variant_past_the_first_page_of_its_sku_is_not_zeroed(
    account, gecko, buried
):
    gecko.bury("R", buried)

    run = gecko.sync(account, full=True)

    assert run.status == SyncStatus.SUCCEEDED, run.errors
    assert synced_levels()["R"] == 6
    assert [e["sku"] for e in _codes(run, "gone_at_erp")] == ["GONE"]
    assert not _codes(run, "gone_unconfirmed")
    asked = [p for p in gecko.look_ups if p["sku"] == "R"]
    # The documented filter, the largest page, the pages followed in order.
    assert {p["limit"] for p in asked} == {str(MAX_LIMIT)}
    assert [p["page"] for p in asked] == [str(n) for n in range(1, len(asked) + 1)]
    assert len(asked) == -(-(buried + 1) // MAX_LIMIT)


def test_a_sku_with_many_deleted_variants_and_none_live_is_gone(account, gecko):
    gecko.bury("GONE", MAX_LIMIT + 10)

    run = gecko.sync(account, full=True)

    assert synced_levels()["GONE"] == 0
    assert [e["sku"] for e in _codes(run, "gone_at_erp")] == ["GONE"]
    assert not _codes(run, "gone_unconfirmed")
    assert len([p for p in gecko.look_ups if p["sku"] == "GONE"]) == 2


def test_an_answer_cut_at_the_bound_proves_nothing_gone(account, gecko, monkeypatch):
    """More pages than the bound: what is unread may hold a live variant,
    so the level is not proven gone (noted ``gone_unconfirmed``; the
    listing's word stands, as for a look-up that failed)."""
    monkeypatch.setattr(tradegecko_paging, "LOOKUP_PAGES", 2)
    gecko.bury("GONE", 2 * MAX_LIMIT + 10)

    run = gecko.sync(account, full=True)

    assert len([p for p in gecko.look_ups if p["sku"] == "GONE"]) == 2
    [note] = _codes(run, "gone_unconfirmed")
    assert note["message"].startswith("1 level(s)")
    assert synced_levels()["R"] == 6


def test_a_cut_answer_that_shows_a_live_variant_keeps_it(account, gecko, monkeypatch):
    monkeypatch.setattr(tradegecko_paging, "LOOKUP_PAGES", 1)
    gecko.bury("R", 2 * MAX_LIMIT)
    gecko.live_at["R"] = 10  # on the first page, archived ones after it

    run = gecko.sync(account, full=True)

    assert synced_levels()["R"] == 6
    assert "R" not in [e["sku"] for e in _codes(run, "gone_at_erp")]
    assert not _codes(run, "gone_unconfirmed")


def test_a_purchase_order_finds_its_variant_on_a_later_page(account, gecko):
    gecko.bury("S01", MAX_LIMIT + 10)
    adapter = TradeGeckoAdapter(account)
    with responses.RequestsMock() as rsps:
        rsps.add_callback(responses.GET, tg.VARIANTS, callback=gecko.answer)
        assert adapter.variant_id("S01") == 10
