"""NetSuite paging past SuiteQL's 100,000-row cap, and item look-ups past
Oracle's 1,000-value IN lists, against a fake NetSuite that keeps both
limits: "Using SuiteQL queries, you can return a maximum of 100,000
results" (Executing SuiteQL Queries Through REST Web Services,
section_157909186990), at most 1,000 rows a page (Collection Paging,
section_156414087576), and ORA-01795 for an IN list of more than 1,000
expressions. Its answers have the envelope of tests/fixtures/netsuite/."""

import io
import json
import re
from bisect import bisect_right
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
from django.core.management import call_command
from django.db import connection

from inventory.models import PurchaseOrderStatus, StockLevel, SyncRun, SyncStatus
from inventory.providers.base import (
    LevelsQuery,
    PurchaseOrderLine,
    PurchaseOrderRequest,
)
from inventory.providers.netsuite import NetSuiteAdapter
from inventory.services import sync as sync_module
from tests.inventory.contract import harness_netsuite as ns

pytestmark = pytest.mark.django_db

RESULT_CAP = 100_000
KEY_AFTER = re.compile(
    r"iil\.item > (\d+) OR \(iil\.item = \1 AND iil\.location > (\d+)\)"
)
IN_LIST = re.compile(r"itemid IN \(([^)]*)\)")


def _error(status: int, code: str, detail: str):
    body = {
        "type": "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1",
        "title": "Bad Request",
        "status": status,
        "o:errorDetails": [{"detail": detail, "o:errorCode": code}],
    }
    return status, {"Content-Type": "application/json"}, json.dumps(body)


def _page(rows: list[dict], offset: int, limit: int, total: int):
    items = rows[offset : offset + limit]
    body = {
        "links": [],
        "count": len(items),
        "hasMore": offset + len(items) < total,
        "items": items,
        "offset": offset,
        "totalResults": total,
    }
    return 200, {"Content-Type": "application/json"}, json.dumps(body)


class FakeSuiteQL:
    """Answers our SuiteQL as NetSuite would, caps included."""

    def __init__(self, levels: list[dict], items: dict[str, str]) -> None:
        self.levels = sorted(levels, key=lambda r: (int(r["item"]), int(r["location"])))
        self.keys = [(int(r["item"]), int(r["location"])) for r in self.levels]
        self.items = items
        self.queries: list[tuple[str, int, int]] = []

    def __call__(self, request):
        params = dict(parse_qsl(urlsplit(request.url).query))
        offset, limit = int(params.get("offset", 0)), int(params.get("limit", 1000))
        query = json.loads(request.body)["q"]
        self.queries.append((query, offset, limit))
        if limit > 1000:
            return _error(400, "INVALID_PARAMETER", "limit is at most 1000")
        if "FROM inventoryitemlocations" in query:
            rows = self._levels_after(query)
        else:
            listed = IN_LIST.search(query)
            values = re.findall(r"'((?:[^']|'')*)'", listed.group(1))
            if len(values) > 1000:
                return _error(
                    400,
                    "INVALID_SEARCH",
                    "ORA-01795: maximum number of expressions in a list is 1000",
                )
            rows = [
                {"links": [], "id": self.items[v], "itemid": v}
                for v in sorted(values)
                if v in self.items
            ]
        total = min(len(rows), RESULT_CAP)
        if offset >= RESULT_CAP:
            return _error(400, "INVALID_PARAMETER", "offset is beyond the results")
        return _page(rows[:RESULT_CAP], offset, limit, total)

    def _levels_after(self, query: str) -> list[dict]:
        found = KEY_AFTER.search(query)
        if found is None:
            return self.levels
        start = bisect_right(self.keys, (int(found.group(1)), int(found.group(2))))
        return self.levels[start:]


def _level(item: int, location: int, on_hand: int) -> dict:
    return {
        "links": [],
        "sku": f"SKU-{item:06d}",
        "item": str(item),
        "location": str(location),
        "quantityonhand": str(on_hand),
        "lastmodified": "2026-12-01T08:15:00",
    }


def _account():
    account = ns.make_account()
    account.settings = {**account.settings, "max_attempts": 1}
    account.save()
    return account


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def test_every_level_past_suiteqls_100000_rows_is_read(rsps):
    """100,001 item-location rows: offset paging stops at row 100,000 (the
    query serves no more); the adapter's pages go on past it."""
    levels = [_level(n // 2 + 1, n % 2 + 1, n % 7) for n in range(RESULT_CAP + 1)]
    fake = FakeSuiteQL(levels, {})
    rsps.add_callback(responses.POST, ns.SUITEQL, callback=fake)
    adapter = NetSuiteAdapter(_account())

    query, seen = LevelsQuery(limit=1000), []
    while True:
        page = adapter.levels(query)
        assert not page.rejected
        seen.extend((r.sku, r.location_code) for r in page.records)
        if not page.has_more:
            break
        query = query.next(page)

    assert len(seen) == len(set(seen)) == RESULT_CAP + 1
    assert seen[-1] == (f"SKU-{RESULT_CAP // 2 + 1:06d}", "1")
    assert max(offset for _, offset, _ in fake.queries) < RESULT_CAP


def _analyzed_as_pages_commit(monkeypatch) -> None:
    """Fresh planner statistics as the table grows, as autoanalyze keeps them
    between a real sync's committed pages. The whole test is one transaction,
    which autoanalyze never sees: each page's look-ups were planned for an
    empty table and the run took minutes instead of seconds. Analyzed each
    time the pages double (the statistics never under half the rows): every
    fifth page was 20 ANALYZEs of a table of up to 100,000 rows."""
    real, pages = sync_module.stock_levels_apply, []

    def apply(*args, **kwargs):
        pages.append(True)
        if len(pages) & (len(pages) - 1) == 0:  # 1, 2, 4, 8, ...
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE inventory_stocklevel")
        return real(*args, **kwargs)

    monkeypatch.setattr(sync_module, "stock_levels_apply", apply)


def test_a_sync_applies_the_rows_past_the_cap(settings, rsps, monkeypatch):
    """Through the sync command: the last rows of a listing longer than
    100,000 reach our stock levels and the run succeeds."""
    settings.INVENTORY_SYNC_PAGE_SIZE = 1000
    if connection.vendor == "postgresql":
        _analyzed_as_pages_commit(monkeypatch)
    levels = [_level(n // 2 + 1, n % 2 + 1, 5) for n in range(RESULT_CAP + 3)]
    levels[-1]["quantityonhand"] = "9"
    rsps.add_callback(responses.POST, ns.SUITEQL, callback=FakeSuiteQL(levels, {}))
    account = _account()

    call_command(
        "sync_inventory", "--account", account.slug, "--full", stdout=io.StringIO()
    )

    run = SyncRun.objects.get()
    assert (run.status, run.items_seen) == (SyncStatus.SUCCEEDED, RESULT_CAP + 3)
    last = levels[-1]
    level = StockLevel.objects.get(sku=last["sku"], location__code=last["location"])
    assert level.on_hand == 9


def test_a_failed_page_is_stepped_past_and_the_next_is_its_successor(rsps):
    """A page that fails is skipped by the sync; the page asked instead holds
    the rows right after it, none twice and none missed."""
    levels = [_level(n + 1, 1, 1) for n in range(10)]
    fake = FakeSuiteQL(levels, {})
    rsps.add_callback(responses.POST, ns.SUITEQL, callback=fake)
    adapter = NetSuiteAdapter(_account())

    first = adapter.levels(LevelsQuery(limit=3))
    failed = LevelsQuery(limit=3).next(first)
    after = LevelsQuery(cursor=adapter.cursor_after(failed), limit=3)
    third = adapter.levels(after)
    fourth = adapter.levels(after.next(third))

    skus = [r.sku for r in first.records + third.records + fourth.records]
    assert skus == [f"SKU-{n:06d}" for n in (1, 2, 3, 7, 8, 9, 10)]
    assert not fourth.has_more


def test_a_stored_offset_cursor_still_reads_its_page(rsps):
    """A run saved mid-way before the change resumes from its offset."""
    levels = [_level(n + 1, 1, 1) for n in range(5)]
    rsps.add_callback(responses.POST, ns.SUITEQL, callback=FakeSuiteQL(levels, {}))
    adapter = NetSuiteAdapter(_account())

    page = adapter.levels(LevelsQuery(cursor="2", limit=2))
    rest = adapter.levels(LevelsQuery(cursor="2", limit=2).next(page))

    assert [r.sku for r in page.records + rest.records] == [
        "SKU-000003",
        "SKU-000004",
        "SKU-000005",
    ]


@pytest.mark.parametrize("cursor", ["1:x", "1;DROP", "1:2:3:4", "-1:2", " 1:2"])
def test_a_cursor_that_is_not_ours_is_refused_before_any_call(rsps, cursor):
    from integrations.errors import Rejected

    adapter = NetSuiteAdapter(_account())
    with pytest.raises(Rejected) as caught:
        adapter.levels(LevelsQuery(cursor=cursor, limit=2))
    assert caught.value.code == "invalid_cursor"
    assert len(rsps.calls) == 0


# --- Item look-up of a purchase order ----------------------------------------


def test_an_order_of_2500_skus_finds_every_item(rsps):
    """More than 1,000 SKUs: Oracle refuses an IN list of more than 1,000
    values, and one page holds at most 1,000 rows. Every SKU is found, the
    order is upserted with every line."""
    skus = [f"P-{n:05d}" for n in range(2500)]
    items = {sku: str(10_000 + n) for n, sku in enumerate(skus)}
    fake = FakeSuiteQL([], items)
    ns.currencies(rsps)  # asked first: its matcher leaves the item queries
    rsps.add_callback(responses.POST, ns.SUITEQL, callback=fake)
    record = f"{ns.BASE}/record/v1/purchaseOrder/eid:{ns.PO_EXTERNAL_ID}"
    rsps.put(record, status=204)
    rsps.get(record, json=ns.load("purchase_order.json"))
    adapter = NetSuiteAdapter(_account())

    result = adapter.purchase_order_upsert(
        PurchaseOrderRequest(
            external_id=ns.PO_EXTERNAL_ID,
            supplier_code="77",
            location_code="1",
            currency="USD",
            lines=tuple(PurchaseOrderLine(sku, 1) for sku in skus),
        )
    )

    assert result.status == PurchaseOrderStatus.CONFIRMED
    (put,) = [c for c in rsps.calls if c.request.method == "PUT"]
    sent = json.loads(put.request.body)["item"]["items"]
    assert [line["item"]["id"] for line in sent] == [items[s] for s in skus]


def test_item_lookup_reads_every_page_of_its_answer(rsps):
    """An answer with ``hasMore`` has pages after the first: every page is
    read, not only the first."""
    skus = [f"Q-{n}" for n in range(5)]
    answers = [
        {"items": [{"id": "1", "itemid": "Q-0"}, {"id": "2", "itemid": "Q-1"}]},
        {"items": [{"id": "3", "itemid": "Q-2"}, {"id": "4", "itemid": "Q-3"}]},
        {"items": [{"id": "5", "itemid": "Q-4"}]},
    ]
    for number, answer in enumerate(answers):
        rsps.post(
            ns.SUITEQL,
            json={
                "links": [],
                "count": len(answer["items"]),
                "hasMore": number < 2,
                "offset": 2 * number,
                "totalResults": 5,
                **answer,
            },
        )
    adapter = NetSuiteAdapter(_account())

    assert adapter.item_ids(skus) == {f"Q-{n}": str(n + 1) for n in range(5)}
