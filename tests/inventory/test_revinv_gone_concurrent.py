"""A full sync's deletion check against what happens while it runs. A level
the account reported after the run started (a webhook for a variant created
at the ERP after the listing passed it) is not proof of a deletion by being
absent from that listing: it keeps its stock. One run of an account at a
time, and a run taken over as stale zeroes nothing when it ends."""

import json

import pytest
import responses

from integrations.clock import database_now
from inventory import services
from inventory.models import StockLevel, SyncListedLevel, SyncRun, SyncStatus
from inventory.providers.base import StockLevelRecord
from inventory.services import InventoryError
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.factories import LocationFactory

pytestmark = pytest.mark.django_db


def _variant(sku: str, stock: str, variant_id: int) -> dict:
    return {
        "id": variant_id,
        "sku": sku,
        "updated_at": "2026-12-04T09:30:00.000Z",
        "locations": [{"location_id": 159, "stock_on_hand": stock, "committed": "0"}],
    }


@pytest.fixture
def account():
    account = tg.make_account()
    account.settings = {**account.settings, "max_attempts": 1}
    account.save()
    LocationFactory(code="159", active=True)
    return account


def _listing(rsps, variants) -> None:
    body = {"variants": variants, "meta": {"total": len(variants)}}
    rsps.get(tg.VARIANTS, json=body)


def _webhook_reports(account, sku: str, on_hand: int) -> None:
    # What the inventory webhook applies: the service, on the database clock.
    record = StockLevelRecord(sku=sku, location_code="159", on_hand=on_hand)
    services.stock_levels_apply(account=account, records=[record], now=database_now())


def _on_hand(sku: str) -> int:
    return StockLevel.objects.get(sku=sku).on_hand


def test_a_level_reported_during_a_full_run_is_not_zeroed_as_gone(account):
    """The variant was created at the ERP after the listing's page passed
    its place: the listing does not have it, the webhook reported it while
    the run was under way. It was zeroed as gone at the ERP."""
    run = services.sync_run_start(account=account, full=True)

    def webhook_meanwhile(run: SyncRun) -> None:
        _webhook_reports(account, "NEW", 9)

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _listing(rsps, [_variant("OLD", "4", 1)])
        services.sync_run_execute(run=run, progress=webhook_meanwhile)

    run.refresh_from_db()
    assert run.status == SyncStatus.SUCCEEDED
    assert _on_hand("NEW") == 9
    assert _on_hand("OLD") == 4
    assert not [e for e in run.errors if e["code"] == "gone_at_erp"]


def test_a_level_reported_before_the_run_and_not_listed_still_goes(account):
    _webhook_reports(account, "GONE", 5)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _listing(rsps, [_variant("OLD", "4", 1)])
        services.inventory_sync(account=account, full=True)

    assert _on_hand("GONE") == 0
    run = SyncRun.objects.latest("pk")
    assert [e["sku"] for e in run.errors if e["code"] == "gone_at_erp"] == ["GONE"]


def test_a_second_full_run_of_the_account_is_refused_while_one_is_open(account):
    services.sync_run_start(account=account, full=True)

    with pytest.raises(InventoryError) as raised:
        services.sync_run_start(account=account, full=True)

    assert raised.value.code == "sync_running"


def test_a_run_taken_for_stale_zeroes_nothing_when_its_worker_ends(account):
    """Run A's worker is slow past STALE_AFTER; a new start fails A and B
    runs. A's worker reaching its end must not zero anything (its claim is
    gone), nor may B's end delete B's own pairs early."""
    _webhook_reports(account, "KEPT", 5)
    stale = services.sync_run_start(account=account, full=True)

    def taken_over(run: SyncRun) -> None:
        # Another process ends A as stale while A's page is saved.
        SyncRun.objects.filter(pk=run.pk).update(
            status=SyncStatus.FAILED, claimed_at=None
        )

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _listing(rsps, [_variant("OLD", "4", 1)])
        with pytest.raises(InventoryError):
            services.sync_run_execute(run=stale, progress=taken_over)

    assert _on_hand("KEPT") == 5
    stale.refresh_from_db()
    assert stale.status == SyncStatus.FAILED
    # Its pairs are left to the account's next ending run to drop.
    assert SyncListedLevel.objects.filter(run=stale).exists()


def _paged(erp: list[dict], limit: int, deleted_after_page_1: str):
    """TradeGecko's page-numbered listing over ``erp``; after page 1 is
    read, the variant ``deleted_after_page_1`` is deleted there."""
    state = {"pages": 0}

    def answer(request):
        page = int(request.params.get("page", 1))
        state["pages"] += 1
        if state["pages"] == 2:
            erp[:] = [v for v in erp if v["sku"] != deleted_after_page_1]
        rows = erp[(page - 1) * limit : page * limit]
        body = {"variants": rows, "meta": {"total": len(erp)}}
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    return answer


def test_a_variant_deleted_on_a_page_read_shifts_no_live_one_to_zero(account, settings):
    """Page numbers over a listing that shrinks: a variant of page 1 deleted
    before page 2 is asked moves page 2's first variant onto page 1, already
    read. The run listed neither, and zeroed the live one as gone."""
    settings.INVENTORY_SYNC_PAGE_SIZE = 2
    erp = [_variant(sku, "6", n) for n, sku in enumerate("ABCD", start=1)]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_callback(responses.GET, tg.VARIANTS, callback=_paged(list(erp), 2, ""))
        services.inventory_sync(account=account, full=True)
    assert {sku: _on_hand(sku) for sku in "ABCD"} == dict.fromkeys("ABCD", 6)

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_callback(
            responses.GET, tg.VARIANTS, callback=_paged(list(erp), 2, "A")
        )
        services.inventory_sync(account=account, full=True)

    # C exists at the ERP: it was shifted past, not deleted.
    assert _on_hand("C") == 6
    # A's deletion is left to a listing that holds still.
    assert _on_hand("A") == 6


def test_an_empty_full_listing_zeroes_nothing_and_tells_staff(account):
    """A full listing of nothing, answered 200 (a role that lost its
    locations' permission, a proxy's empty page): not every variant deleted
    at once. It set every level of the account to 0."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _listing(rsps, [_variant("A", "3", 1), _variant("B", "2", 2)])
        services.inventory_sync(account=account, full=True)

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _listing(rsps, [])
        services.inventory_sync(account=account, full=True)

    assert (_on_hand("A"), _on_hand("B")) == (3, 2)
    run = SyncRun.objects.latest("pk")
    assert [e["code"] for e in run.errors] == ["listing_empty"]


def test_a_full_run_whose_page_was_owed_zeroes_nothing(account, settings):
    """Page 2 answered 503: not read, so the run proves no deletion (nor
    owes it: a page number asked later holds other variants, h/invy)."""
    settings.INVENTORY_SYNC_PAGE_SIZE = 1
    _webhook_reports(account, "B", 5)

    def answer(request):
        if request.params.get("page") == "2":
            return 503, {"Content-Type": "application/json"}, "{}"
        body = {"variants": [_variant("A", "3", 1)], "meta": {"total": 2}}
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_callback(responses.GET, tg.VARIANTS, callback=answer)
        services.inventory_sync(account=account, full=True)

    run = SyncRun.objects.latest("pk")
    assert run.status == SyncStatus.PARTIAL
    assert not run.covered and not run.owed
    assert _on_hand("B") == 5
    assert not SyncListedLevel.objects.exists()
