"""NetSuite incremental sync and stock moved by transactions. An item
receipt, fulfilment, adjustment or transfer changes an item's quantities at
a location without NetSuite documenting that the item record's
``lastmodifieddate`` moves; the incremental query also asks for the items of
inventory-affecting transaction lines (``transactionline.isinventoryaffecting``,
``linelastmodifieddate``, ``transaction.lastmodifieddate``) changed since the
cursor. The fake below answers like SuiteQL (POST .../query/v1/suiteql,
``links``/``items``/``hasMore``) from items and transaction lines, by the
conditions the query states."""

import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import responses
from django.core.management import call_command

from inventory.models import StockLevel, SyncRun
from inventory.providers.base import LevelsQuery
from inventory.providers.netsuite import NetSuiteAdapter
from tests.inventory.contract import harness_netsuite as ns
from tests.inventory.factories import LocationFactory

pytestmark = pytest.mark.django_db

STAMP = r"TO_TIMESTAMP\('([0-9: -]+)', 'YYYY-MM-DD HH24:MI:SS'\)"
ITEM_SINCE = re.compile(r"item\.lastmodifieddate >= " + STAMP)
LINES_SINCE = re.compile(
    r"FROM transactionline tl .*isinventoryaffecting = 'T'.*"
    r"tl\.linelastmodifieddate >= " + STAMP,
    re.S,
)
OLD = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def _time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


class FakeNetSuite:
    """Items (internal id -> SKU, record modified), quantities per item and
    location, and inventory-affecting transaction lines (item, modified)."""

    def __init__(self) -> None:
        self.items = {501: ("RED", OLD), 502: ("BLUE", OLD)}
        self.on_hand = {(501, 1): 42, (502, 1): 3}
        self.lines: list[tuple[int, datetime]] = []
        self.queries: list[str] = []

    def receive(self, item: int, location: int, units: int, at: datetime) -> None:
        """An item receipt: quantity up, a transaction line; the item record
        is not touched."""
        self.on_hand[item, location] += units
        self.lines.append((item, at))

    def wanted(self, query: str) -> set[int]:
        found = ITEM_SINCE.search(query)
        if found is None:
            return set(self.items)
        since = _time(found.group(1))
        wanted = {i for i, (_, at) in self.items.items() if at >= since}
        by_lines = LINES_SINCE.search(query)
        if by_lines is not None:
            moved = _time(by_lines.group(1))
            wanted |= {item for item, at in self.lines if at >= moved}
        return wanted

    def answer(self, request):
        query = json.loads(request.body)["q"]
        self.queries.append(query)
        wanted = self.wanted(query)
        rows = [
            {
                "links": [],
                "sku": self.items[item][0],
                "item": str(item),
                "location": str(location),
                "quantityonhand": str(units),
                "lastmodified": self.items[item][1].strftime("%Y-%m-%dT%H:%M:%S"),
            }
            for (item, location), units in sorted(self.on_hand.items())
            if item in wanted
        ]
        body = {
            "links": [],
            "count": len(rows),
            "hasMore": False,
            "items": rows,
            "offset": 0,
            "totalResults": len(rows),
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    def sync(self, account, *args: str) -> SyncRun:
        with responses.RequestsMock() as rsps:
            rsps.add_callback(responses.POST, ns.SUITEQL, callback=self.answer)
            call_command(
                "sync_inventory", "--account", account.slug, *args, stdout=io.StringIO()
            )
        return SyncRun.objects.latest("pk")


@pytest.fixture
def account():
    account = ns.make_account()
    account.settings = {**account.settings, "max_attempts": 1}
    account.save()
    LocationFactory(code="1", active=True)
    return account


def test_an_incremental_query_asks_for_items_moved_by_transactions(account):
    fake = FakeNetSuite()
    since = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    fake.receive(501, 1, 8, at=since + timedelta(minutes=5))

    with responses.RequestsMock() as rsps:
        rsps.add_callback(responses.POST, ns.SUITEQL, callback=fake.answer)
        page = NetSuiteAdapter(account).levels(LevelsQuery(since=since))

    assert [(r.sku, r.location_code, r.on_hand) for r in page.records] == [
        ("RED", "1", 50)
    ]
    # Still by the item record too (an item edited, no transaction).
    assert ITEM_SINCE.search(fake.queries[0])


def test_an_incremental_sync_applies_a_receipt_the_item_record_does_not_show(
    account,
):
    fake = FakeNetSuite()
    first = fake.sync(account, "--full")
    assert StockLevel.objects.get(sku="RED").on_hand == 42
    fake.receive(501, 1, 8, at=first.started_at + timedelta(seconds=1))

    run = fake.sync(account)

    assert run.since is not None  # incremental, not a full listing again
    assert run.status == "succeeded"
    assert StockLevel.objects.get(sku="RED").on_hand == 50
    # BLUE neither edited nor moved: not asked.
    assert run.items_seen == 1
