"""Set-up shared by the tests of ERP listings read page by page (TradeGecko's
numbered pages, NetSuite's offsets): a TradeGecko variant record as its API
lists it, an account tried once per call with pages of two (or ten), the
levels a sync left, and a random TradeGecko listing read whole by its
cursor."""

import json

import responses

from integrations.errors import ProviderError
from inventory import services
from inventory.models import StockLevel, SyncRun
from inventory.providers.base import LevelsQuery
from inventory.providers.tradegecko import TradeGeckoAdapter
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.factories import LocationFactory

OLD = "2026-11-01T08:00:00.000Z"


def gecko_variant(variant_id: int, sku: str, stock: int, updated: str = OLD) -> dict:
    """A TradeGecko variant with stock at location 159 only."""
    return {
        "id": variant_id,
        "sku": sku,
        "updated_at": updated,
        "locations": [{"location_id": 159, "stock_on_hand": str(stock)}],
    }


def paged_account(settings, make_account, location_code: str):
    """An account from ``make_account`` tried once per call, its listing
    read two records a page, its stock location active here."""
    settings.INVENTORY_SYNC_PAGE_SIZE = 2
    account = make_account()
    account.settings = {**account.settings, "max_attempts": 1}
    account.save()
    LocationFactory(code=location_code, active=True)
    return account


def gecko_paged_account(settings):
    """A TradeGecko account (the contract harness's) read ten a page."""
    account = paged_account(settings, tg.make_account, "159")
    settings.INVENTORY_SYNC_PAGE_SIZE = 10
    return account


# 25 variants: pages of ten, the later ones overlapping the page before.
SKUS = [f"S{n:02d}" for n in range(1, 26)]


def synced_levels() -> dict[str, int]:
    return dict(StockLevel.objects.values_list("sku", "on_hand"))


class GeckoListing:
    """The state and look-ups TradeGecko fakes share: ``variants`` (dicts as
    /variants lists them), the listing pages ``asked`` and SKUs
    ``looked_up``; ``between`` runs once a run's first page is answered.
    A subclass answers the listing (``answer``)."""

    def __init__(self, variants: list[dict]) -> None:
        self.variants = variants
        self.between = None
        self.asked: list[dict] = []
        self.looked_up: list[str] = []

    def look_up(self, sku: str):
        """``?sku=``: a run's look-up of a level it would zero as gone, not a
        page of its listing (not in ``asked``); archived ones left out."""
        self.looked_up.append(sku)
        rows = [
            v
            for v in self.variants
            if v["sku"] == sku and v.get("status") != "archived"
        ]
        body = {"variants": rows, "meta": {"total": len(rows)}}
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    def sync(self, account, *, full: bool) -> SyncRun:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            rsps.add_callback(responses.GET, tg.VARIANTS, callback=self.answer)
            services.inventory_sync(account=account, full=full)
        return SyncRun.objects.latest("pk")


class RandomGecko:
    """/variants by descending id, archived ones left out, TradeGecko's
    page/limit (a page below 1 is page 1), ``X-Pagination`` totals; the
    writes of ``script`` happen before each request, one batch a request."""

    def __init__(self, live: list[int], archived: list[int], script, failing):
        self.status = {i: "active" for i in live} | {i: "archived" for i in archived}
        self.script = list(script)
        self.failing = set(failing)
        self.pages = 0
        self.requests = 0
        # Live at every request so far: live during the whole run.
        self.always = set(self.listed())

    def listed(self) -> list[int]:
        live = [i for i, status in self.status.items() if status == "active"]
        return sorted(live, reverse=True)

    def write(self) -> None:
        for kind, pick in self.script.pop(0) if self.script else ():
            live = self.listed()
            gone = sorted(i for i, s in self.status.items() if s == "archived")
            if kind == "create":
                self.status[max(self.status, default=0) + 1] = "active"
            elif kind == "delete" and live:
                self.status[live[pick % len(live)]] = "archived"
            elif kind == "restore" and gone:
                self.status[gone[pick % len(gone)]] = "active"

    def answer(self, request):
        self.write()
        self.always &= set(self.listed())
        self.requests += 1
        limit, page = int(request.params["limit"]), int(request.params["page"])
        assert request.params["order"] == "id DESC"
        if limit > 1:
            self.pages += 1
            if self.pages in self.failing:
                return 500, {}, "{}"
        listed = self.listed()
        start = (max(page, 1) - 1) * limit
        rows = [gecko_variant(i, f"V{i}", 1) for i in listed[start : start + limit]]
        headers = {"X-Pagination": json.dumps({"total_records": len(listed)})}
        return 200, headers, json.dumps({"variants": rows})


def read_listing(gecko, size: int, resume_at: int, before_page=None):
    """Read the whole listing as a sync does: (SKUs live all along unread,
    partial). ``before_page`` is called before each page is asked."""
    adapter = TradeGeckoAdapter(unpaced_account())
    read, partial, cursor, pages = set(), False, "", 0
    with responses.RequestsMock() as rsps:
        rsps.add_callback(responses.GET, tg.VARIANTS, callback=gecko.answer)
        while True:
            pages += 1
            assert pages < 200, "the cursor does not move on"
            # A saved cursor read back by a fresh adapter (a later task).
            if pages == resume_at:
                adapter = TradeGeckoAdapter(unpaced_account())
            query = LevelsQuery(limit=size, cursor=cursor)
            if before_page is not None:
                before_page()
            try:
                page = adapter.levels(query)
            except ProviderError:  # a failed page, stepped past
                partial = True
                cursor = adapter.cursor_after(query)
                continue
            read |= {record.sku for record in page.records}
            partial |= page.shifted
            if not page.has_more:
                break
            assert page.next_cursor and page.next_cursor != cursor
            cursor = page.next_cursor
    return {f"V{i}" for i in gecko.always} - read, partial


def unpaced_account():
    account = tg.make_account()
    # No pacing: hundreds of requests an example.
    account.settings = {
        **account.settings,
        "max_attempts": 1,
        "rate_limit_per_second": 1e6,
        "rate_limit_burst": 1e6,
        "breaker_failure_threshold": 10**6,
    }
    account.save()
    return account
