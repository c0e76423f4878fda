"""A failed page of a listing paged by position (TradeGecko's page numbers)
was owed to later runs and asked again by the same page number, while the
failing run moved "since" past it. By then variants updated meanwhile had
joined the listing before that page and pushed its records onto the next
page, which no run reads again: their levels were missed until the daily
full sync. Such a page is not owed: the run ends partial, "since" stays, and
the next run reads the window again."""

import json
from datetime import UTC, datetime

import pytest
import responses
from django.utils import timezone

from inventory import services
from inventory.models import SyncRun, SyncStatus
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.paged_erp import gecko_variant, paged_account, synced_levels

pytestmark = pytest.mark.django_db


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Gecko:
    """TradeGecko's variants in id order (``order=id ASC``), paged by
    number, honouring ``updated_at_min``; ``fail`` holds the page numbers
    whose next ask answers 500."""

    def __init__(self, variants: list[dict]) -> None:
        self.variants = variants
        self.fail: set[int] = set()
        self.asked: list[dict] = []

    def answer(self, request):
        params = dict(request.params)
        self.asked.append(params)
        limit, page = int(params["limit"]), int(params.get("page", 1))
        if page in self.fail:
            self.fail.discard(page)
            return 500, {}, "{}"
        listed = sorted(self.variants, key=lambda v: v["id"])
        if "updated_at_min" in params:
            since = datetime.fromisoformat(params["updated_at_min"])
            listed = [
                v for v in listed if datetime.fromisoformat(v["updated_at"]) >= since
            ]
        body = {
            "variants": listed[(page - 1) * limit : page * limit],
            "meta": {"total": len(listed)},
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    def update(self, variant_id: int, stock: int, when: datetime) -> None:
        sku = next(v["sku"] for v in self.variants if v["id"] == variant_id)
        self.variants = [v for v in self.variants if v["id"] != variant_id]
        self.variants.append(gecko_variant(variant_id, sku, stock, _stamp(when)))

    def sync(self, account) -> SyncRun:
        self.asked = []
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            rsps.add_callback(responses.GET, tg.VARIANTS, callback=self.answer)
            services.inventory_sync(account=account)
        return SyncRun.objects.latest("pk")


@pytest.fixture
def account(settings):
    settings.INVENTORY_SYNC_SINCE_MARGIN_SECONDS = 0
    return paged_account(settings, tg.make_account, "159")


def test_a_failed_page_is_read_again_with_what_moved_past_it(account):
    gecko = Gecko([gecko_variant(n, s, 6) for n, s in enumerate("ABCDEF", start=1)])
    first = gecko.sync(account)
    assert first.status == SyncStatus.SUCCEEDED
    # C, D and E sell at TradeGecko after the first run.
    for variant_id in (3, 4, 5):
        gecko.update(variant_id, 2, first.finished_at)
    # The second run's page 1 ([C, D]) fails; it reads page 2 ([E]).
    gecko.fail = {1}
    second = gecko.sync(account)
    assert second.status == SyncStatus.PARTIAL
    assert synced_levels()["E"] == 2
    # A is updated after it: it joins the window before C and D, so D is on
    # page 2 now, not on the page that failed.
    gecko.update(1, 5, second.finished_at)

    third = gecko.sync(account)

    assert third.status == SyncStatus.SUCCEEDED
    assert synced_levels() == {"A": 5, "B": 6, "C": 2, "D": 2, "E": 2, "F": 6}
    # Every page of the window the failed page was in was read.
    assert {p.get("page") for p in gecko.asked} >= {"1", "2"}
    # Read whole, the third run moves "since" and owes nothing.
    assert third.owed == []
    assert second.owed == []


def test_the_failing_run_keeps_since_where_the_next_run_reads_the_page(account):
    gecko = Gecko([gecko_variant(n, s, 6) for n, s in enumerate("ABCD", start=1)])
    first = gecko.sync(account)
    for variant_id in (2, 3, 4):
        gecko.update(variant_id, 1, first.finished_at)
    # Page 1 ([B, C]) fails; page 2 ([D]) is read.
    gecko.fail = {1}
    second = gecko.sync(account)

    assert second.status == SyncStatus.PARTIAL
    assert second.covered is False
    assert second.owed == []
    assert [e["code"] for e in second.errors] == [second.errors[0]["code"]]
    third = gecko.sync(account)
    # Asked from the first run's start again: B, changed before the second
    # run started, is read.
    assert gecko.asked[0]["updated_at_min"] == _iso(first.started_at)
    assert synced_levels() == {"A": 6, "B": 1, "C": 1, "D": 1}
    assert third.status == SyncStatus.SUCCEEDED


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat()


def test_a_page_owed_before_the_upgrade_is_covered_by_reading_its_window(account):
    """A run of an older version owed page 1 and moved "since" past it: the
    next run asks from that page's "since" (a page number asked again holds
    other variants) and, read whole, owes nothing more."""
    gecko = Gecko([gecko_variant(n, s, 6) for n, s in enumerate("ABCD", start=1)])
    first = gecko.sync(account)
    gecko.update(2, 3, first.finished_at)
    owing_at = timezone.now()
    owing = SyncRun.objects.create(
        account=account,
        status=SyncStatus.PARTIAL,
        covered=True,
        since=first.started_at,
        started_at=owing_at,
        finished_at=owing_at,
    )
    owing.owed = [
        {
            "run": owing.pk,
            "since": first.started_at.isoformat(),
            "cursor": "",
            "limit": 2,
            "tries": 1,
            "failed_at": owing_at.isoformat(),
            "next_at": owing_at.isoformat(),
            "code": "server_error",
            "message": "TradeGecko answered 500",
            "alerted": False,
        }
    ]
    owing.save(update_fields=["owed"])

    run = gecko.sync(account)

    assert run.since == first.started_at
    assert gecko.asked[0]["updated_at_min"] == _iso(first.started_at)
    assert synced_levels()["B"] == 3
    assert (run.status, run.owed) == (SyncStatus.SUCCEEDED, [])
