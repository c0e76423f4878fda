"""NetSuite pages its levels by key, but steps past a failed page by offset
from the key before it, and a page owed to later runs was asked again as
"the first rows after that key": items changed meanwhile joined the window
before its end and pushed its rows past it, onto rows no run reads again.
So NetSuite owes no page either (``owes_failed_pages``): the run ends
partial and the next reads the window again."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import responses
from django.utils import timezone

from inventory import services
from inventory.models import SyncRun, SyncStatus
from tests.inventory.contract import harness_netsuite as ns
from tests.inventory.paged_erp import paged_account, synced_levels

pytestmark = pytest.mark.django_db

SINCE = re.compile(r"TO_TIMESTAMP\('([^']+)'")
AFTER = re.compile(r"iil\.item > (\d+) OR \(iil\.item = \d+ AND iil\.location > (\d+)")


class SuiteQL:
    """Item 1..n at location 1, ordered by (item, location), honouring the
    keyset and "changed since" conditions, ``limit`` and ``offset``; ``fail``
    holds the (key, offset) places whose next ask answers 500."""

    def __init__(self, skus: str) -> None:
        old = datetime(2026, 11, 1, tzinfo=UTC)
        self.rows = {n: (sku, 6, old) for n, sku in enumerate(skus, start=1)}
        self.fail: set[tuple[tuple[int, int] | None, int]] = set()

    def change(self, item: int, on_hand: int, when: datetime) -> None:
        self.rows[item] = (self.rows[item][0], on_hand, when)

    def answer(self, request):
        query = json.loads(request.body)["q"]
        offset, limit = int(request.params["offset"]), int(request.params["limit"])
        after = AFTER.search(query)
        key = (int(after[1]), int(after[2])) if after else None
        if (key, offset) in self.fail:
            self.fail.discard((key, offset))
            return 500, {}, "Internal Server Error"
        since = SINCE.search(query)
        rows = sorted(self.rows.items())
        if since:
            at = datetime.fromisoformat(since[1]).replace(tzinfo=UTC)
            rows = [(n, row) for n, row in rows if row[2] >= at]
        if key:
            rows = [(n, row) for n, row in rows if (n, 1) > key]
        items = [
            {"sku": sku, "item": str(n), "location": "1", "quantityonhand": str(q)}
            for n, (sku, q, _) in rows[offset : offset + limit]
        ]
        body = {"items": items, "hasMore": offset + limit < len(rows)}
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    def sync(self, account) -> SyncRun:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            rsps.add_callback(responses.POST, ns.SUITEQL, callback=self.answer)
            services.inventory_sync(account=account)
        return SyncRun.objects.latest("pk")


@pytest.fixture
def account(settings):
    settings.INVENTORY_SYNC_SINCE_MARGIN_SECONDS = 0
    return paged_account(settings, ns.make_account, "1")


def test_a_failed_page_is_read_again_with_what_moved_past_it(account):
    erp = SuiteQL("ABCDEF")
    first = erp.sync(account)
    assert first.status == SyncStatus.SUCCEEDED
    # Started an hour ago: C, D and E sold at NetSuite since (SuiteQL's
    # times are whole seconds, so the runs are kept well apart).
    now = timezone.now()
    SyncRun.objects.filter(pk=first.pk).update(started_at=now - timedelta(hours=1))
    for item in (3, 4, 5):
        erp.change(item, 2, now - timedelta(minutes=30))
    # The second run's first page ([C, D]) fails; it reads on from offset 2.
    erp.fail = {(None, 0)}
    second = erp.sync(account)
    assert second.status == SyncStatus.PARTIAL
    assert synced_levels()["E"] == 2
    # A changes after it: it joins the window before C and D.
    erp.change(1, 5, timezone.now() + timedelta(minutes=1))

    third = erp.sync(account)

    assert third.status == SyncStatus.SUCCEEDED
    assert synced_levels() == {"A": 5, "B": 6, "C": 2, "D": 2, "E": 2, "F": 6}
    assert (second.owed, third.owed) == ([], [])
