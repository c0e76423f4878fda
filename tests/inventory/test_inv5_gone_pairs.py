"""Items and item-locations gone at the ERP, checked by (SKU, location)
pair: a location dropped from a variant still listed goes to 0 like a
deleted variant; the check has no SKU cap (the run keeps no growing list in
its position: the pairs listed are rows, paged through at the end); and
NetSuite, whose full SuiteQL listing names every item-location, takes part."""

import contextlib
import io
import json
import re

import pytest
import responses
from django.core.management import CommandError, call_command

from inventory.models import StockLevel, SyncListedLevel, SyncRun
from tests.inventory.contract import harness_netsuite as ns
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.factories import LocationFactory

pytestmark = pytest.mark.django_db


def _variant(sku: str, stock: str, variant_id: int, locations=(159, 160)) -> dict:
    return {
        "id": variant_id,
        "sku": sku,
        "updated_at": "2026-12-04T09:30:00.000Z",
        "locations": [
            {"location_id": code, "stock_on_hand": stock, "committed": "0"}
            for code in locations
        ],
    }


def _command(account, *args: str) -> None:
    # A run with a failed page ends the command with exit status 1.
    with contextlib.suppress(CommandError):
        call_command(
            "sync_inventory", "--account", account.slug, *args, stdout=io.StringIO()
        )


def _tg_sync(account, variants, *args: str) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        body = {"variants": variants, "meta": {"total": len(variants)}}
        rsps.get(tg.VARIANTS, json=body)
        _command(account, *args)


@pytest.fixture
def tradegecko():
    account = tg.make_account()
    account.settings = {**account.settings, "max_attempts": 1}
    account.save()
    LocationFactory(code="159", active=True)
    LocationFactory(code="160", active=True)
    return account


def _on_hand(sku: str) -> dict[str, int]:
    levels = StockLevel.objects.filter(sku=sku)
    return dict(levels.values_list("location__code", "on_hand"))


def test_a_location_dropped_from_a_listed_variant_goes_to_zero(tradegecko):
    _tg_sync(tradegecko, [_variant("KEEP", "4", 1)], "--full")
    assert _on_hand("KEEP") == {"159": 4, "160": 4}

    _tg_sync(tradegecko, [_variant("KEEP", "4", 1, locations=(159,))], "--full")

    assert _on_hand("KEEP") == {"159": 4, "160": 0}
    run = SyncRun.objects.latest("pk")
    gone = [(e["sku"], e["location"]) for e in run.errors if e["code"] == "gone_at_erp"]
    assert gone == [("KEEP", "160")]


def test_a_dropped_location_in_an_incremental_run_changes_nothing(tradegecko):
    _tg_sync(tradegecko, [_variant("KEEP", "4", 1)], "--full")

    _tg_sync(tradegecko, [_variant("KEEP", "4", 1, locations=(159,))])

    assert _on_hand("KEEP") == {"159": 4, "160": 4}


def test_a_listing_past_the_old_sku_cap_is_still_checked(tradegecko, monkeypatch):
    """The check stopped past MAX_SEEN SKUs (50,000): scaled down here to 2,
    a listing of 3 was no longer checked. Nothing grows in the position."""
    monkeypatch.setattr("inventory.services.sync_gone.MAX_SEEN", 2, raising=False)
    variants = [_variant(f"SKU-{n}", "5", n) for n in range(1, 5)]
    _tg_sync(tradegecko, variants, "--full")

    _tg_sync(tradegecko, variants[:3], "--full")

    assert _on_hand("SKU-4") == {"159": 0, "160": 0}
    assert _on_hand("SKU-1") == {"159": 5, "160": 5}
    assert not SyncRun.objects.latest("pk").position["seen"]


def test_a_run_saved_with_a_sku_list_checks_nothing(tradegecko):
    """A run resumed from a position of the old shape (the SKUs it listed):
    its earlier pages' pairs were never kept, so it cannot tell what is
    gone, and zeroes nothing."""
    from inventory import services

    _tg_sync(tradegecko, [_variant("A", "5", 1), _variant("B", "5", 2)], "--full")
    run = services.sync_run_start(account=tradegecko, full=True)
    run.position = {"limit": 100, "cursor": "", "seen": ["A"]}
    run.save(update_fields=["position"])
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(tg.VARIANTS, json={"variants": [], "meta": {"total": 0}})
        services.sync_run_execute(run=run)

    assert _on_hand("A") == {"159": 5, "160": 5}
    assert _on_hand("B") == {"159": 5, "160": 5}


# --- NetSuite --------------------------------------------------------------------


def _row(sku: str, item: int, location: int, on_hand: int) -> dict:
    return {
        "links": [],
        "sku": sku,
        "item": str(item),
        "location": str(location),
        "quantityonhand": str(on_hand),
        "lastmodified": "2026-12-01T08:15:00",
    }


def _ns_sync(account, rows: list[dict], *args: str) -> list[str]:
    """Sync against a SuiteQL that answers ``rows`` (one page); the queries."""
    queries: list[str] = []

    def answer(request):
        queries.append(json.loads(request.body)["q"])
        body = {
            "links": [],
            "count": len(rows),
            "hasMore": False,
            "items": rows,
            "offset": 0,
            "totalResults": len(rows),
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_callback(responses.POST, ns.SUITEQL, callback=answer)
        _command(account, *args)
    return queries


@pytest.fixture
def netsuite():
    account = ns.make_account()
    account.settings = {**account.settings, "max_attempts": 1}
    account.save()
    LocationFactory(code="1", active=True)
    LocationFactory(code="2", active=True)
    return account


def test_netsuite_full_sync_zeroes_an_item_location_it_no_longer_lists(
    netsuite, monkeypatch
):
    # Levels gone are worked in chunks: one at a time here.
    monkeypatch.setattr("inventory.services.sync_gone.GONE_CHUNK", 1)
    _ns_sync(
        netsuite,
        [_row("RED", 501, 1, 42), _row("RED", 501, 2, 7), _row("BLUE", 502, 1, 3)],
        "--full",
    )

    queries = _ns_sync(netsuite, [_row("RED", 501, 1, 42)], "--full")

    # The full listing: every item-location, no filter.
    assert all(" WHERE " not in q for q in queries)
    assert _on_hand("RED") == {"1": 42, "2": 0}
    assert _on_hand("BLUE") == {"1": 0}
    run = SyncRun.objects.latest("pk")
    gone = sorted(
        (e["sku"], e["location"]) for e in run.errors if e["code"] == "gone_at_erp"
    )
    assert gone == [("BLUE", "1"), ("RED", "2")]
    # The pairs a run listed go with it.
    assert not SyncListedLevel.objects.exists()


def test_netsuite_incremental_sync_zeroes_nothing(netsuite):
    _ns_sync(netsuite, [_row("RED", 501, 1, 42), _row("BLUE", 502, 1, 3)], "--full")

    queries = _ns_sync(netsuite, [_row("RED", 501, 1, 40)])

    assert any(re.search(r"lastmodifieddate >= TO_TIMESTAMP", q) for q in queries)
    assert _on_hand("RED") == {"1": 40}
    assert _on_hand("BLUE") == {"1": 3}
