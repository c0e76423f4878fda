"""Syncs through the sync_inventory command against odd but valid provider
answers (TradeGecko /variants, NetSuite SuiteQL, the HTTP stock service): a
level we cannot hold is refused alone, never its page, its run or the
schedule."""

import io
import json

import pytest
import responses
from django.core.management import call_command

from inventory.models import StockLevel, SyncRun
from tests.inventory.contract import harness_http_stock as hs
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.factories import LocationFactory, StockLevelFactory

pytestmark = pytest.mark.django_db


def _sync(*args):
    """sync_inventory as the operator runs it; a failed run's CommandError
    (exit status 1) is kept so the test can show what was applied."""
    from django.core.management import CommandError

    try:
        call_command("sync_inventory", *args, stdout=io.StringIO())
    except CommandError as exc:
        return str(exc)
    return None


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def _variant(sku, location_id, stock, updated_at="2026-12-04T09:30:00.000Z"):
    return {
        "id": abs(hash(sku)) % 10**6,
        "sku": sku,
        "updated_at": updated_at,
        "locations": [
            {"location_id": location_id, "stock_on_hand": stock, "committed": "0"}
        ],
    }


def _gecko(rsps, variants):
    rsps.get(tg.VARIANTS, json={"variants": variants, "meta": {"total": len(variants)}})


def test_a_variant_stamped_past_year_9999_in_utc_is_refused_and_later_syncs_run(
    rsps,
):
    """TradeGecko's updated_at '9999-12-31T23:59:59-12:00' (valid ISO 8601,
    year 10000 in UTC) cannot be read back from a timestamptz by psycopg:
    it is read as no time (iso_time), so neither the level nor the run's
    high_water holds it and the next incremental sync (next_since) runs."""
    account = tg.make_account()
    LocationFactory(code="159")
    StockLevelFactory(sku="OTHER", location=LocationFactory(code="159"), on_hand=4)
    _gecko(rsps, [_variant("ODD", 159, "5", "9999-12-31T23:59:59-12:00")])
    call_command("sync_inventory", "--account", account.slug, stdout=io.StringIO())

    rsps.replace(
        responses.GET, tg.VARIANTS, json={"variants": [], "meta": {"total": 0}}
    )
    out = io.StringIO()
    call_command("sync_inventory", "--account", account.slug, stdout=out)
    runs = SyncRun.objects.filter(account=account).order_by("pk")
    assert [run.status for run in runs] == ["succeeded", "succeeded"]
    assert all(run.high_water is None for run in runs)
    odd = StockLevel.objects.get(sku="ODD")
    assert (odd.on_hand, odd.erp_modified_at) == (5, None)


def test_a_fractional_tradegecko_stock_figure_is_refused_alone(rsps):
    """TradeGecko keeps stock as decimal strings ("202.0", and "2.5" for an
    item sold by weight). A variant with a fractional figure is a refused
    level; the other variants of its page are applied (docs/inventory.md:
    one level we cannot hold is never a failed page or event)."""
    account = tg.make_account()
    account.settings = {"max_attempts": 1, "backoff_base_seconds": 0.001}
    account.save()
    main = LocationFactory(code="159")
    StockLevelFactory(sku="GOOD", location=main, on_hand=1)
    _gecko(rsps, [_variant("GOOD", 159, "7"), _variant("CHEESE", 159, "2.5")])
    _sync("--account", account.slug, "--full")
    run = SyncRun.objects.get()
    assert StockLevel.objects.get(sku="GOOD").on_hand == 7, (run.status, run.errors)


def test_a_malformed_http_stock_row_is_refused_alone(settings, rsps):
    """The HTTP stock service answers a batch of 50 SKUs; a row whose
    on_hand is 3.0 (a JSON number any JS service may send) or whose location
    is null is a refused level: the other SKUs of the batch are synced."""
    account = hs.make_account()
    account.settings = {"max_attempts": 1, "backoff_base_seconds": 0.001}
    account.save()
    main = LocationFactory(code="MAIN")
    StockLevelFactory(sku="A", location=main, on_hand=1)
    StockLevelFactory(sku="B", location=main, on_hand=1)
    rows = [
        {"sku": "A", "location": "MAIN", "on_hand": 9, "modified_at": None},
        {"sku": "B", "location": "MAIN", "on_hand": 3.0, "modified_at": None},
    ]
    rsps.get(hs.LEVELS, body=json.dumps({"levels": rows}))
    _sync("--account", account.slug)
    run = SyncRun.objects.get()
    assert StockLevel.objects.get(sku="A").on_hand == 9, (run.status, run.errors)


def test_an_account_synced_with_a_year_10000_stamp_stops_no_schedule(rsps, monkeypatch):
    """One account whose queuing fails on something unforeseen (here: made
    to raise) does not stop the schedule's tick: the accounts after it in
    priority are queued (and lost runs resumed)."""
    from inventory import services
    from inventory.services import sync as sync_module

    queue = sync_module.sync_run_queue

    def failing_for_the_first(*, account, **kwargs):
        if account.pk == poisoned.pk:
            raise RuntimeError("unreadable stored time")
        return queue(account=account, **kwargs)

    monkeypatch.setattr(sync_module, "sync_run_queue", failing_for_the_first)

    poisoned = tg.make_account()
    poisoned.priority = 1
    poisoned.save()
    healthy = hs.make_account()
    healthy.priority = 2
    healthy.save()
    LocationFactory(code="159")
    _gecko(rsps, [_variant("ODD", 159, "5", "9999-12-31T23:59:59-12:00")])
    call_command(
        "sync_inventory", "--account", poisoned.slug, "--full", stdout=io.StringIO()
    )
    try:
        services.inventory_syncs_schedule()
    except Exception as exc:
        raised = repr(exc)[:120]
    else:
        raised = None
    queued = SyncRun.objects.filter(account=healthy).exists()
    assert queued and raised is None, raised


def test_a_far_future_updated_at_does_not_freeze_the_level(rsps):
    """One variant stamped year 3000 by the ERP (a clock or data-entry bug)
    must not make every later figure 'older': the next --full sync (the
    documented repair) brings the level back to the ERP's figure."""
    account = tg.make_account()
    LocationFactory(code="159")
    _gecko(rsps, [_variant("MUG", 159, "5", "3000-01-01T00:00:00.000Z")])
    call_command(
        "sync_inventory", "--account", account.slug, "--full", stdout=io.StringIO()
    )
    rsps.replace(
        responses.GET,
        tg.VARIANTS,
        json={"variants": [_variant("MUG", 159, "0")], "meta": {"total": 1}},
    )
    call_command(
        "sync_inventory", "--account", account.slug, "--full", stdout=io.StringIO()
    )
    assert StockLevel.objects.get(sku="MUG").on_hand == 0


def test_a_fractional_netsuite_quantity_is_refused_alone(rsps):
    """NetSuite keeps quantityonhand as a decimal (items sold by weight or
    length: '2.5'). Such a row is a refused level; the others of its SuiteQL
    page (up to 1000 levels) are applied."""
    from tests.inventory.contract import harness_netsuite as ns

    account = ns.make_account()
    account.settings = {**account.settings, "max_attempts": 1}
    account.save()
    main = LocationFactory(code="1")
    StockLevelFactory(sku="GOOD", location=main, on_hand=1)
    items = [
        {
            "sku": "GOOD",
            "item": "10",
            "location": "1",
            "quantityonhand": "7",
            "lastmodified": "2026-12-04T09:30:00",
        },
        {
            "sku": "ROPE-M",
            "item": "11",
            "location": "1",
            "quantityonhand": "2.5",
            "lastmodified": "2026-12-04T09:30:00",
        },
    ]
    rsps.post(
        ns.SUITEQL,
        json={
            "items": items,
            "hasMore": False,
            "count": 2,
            "offset": 0,
            "totalResults": 2,
            "links": [],
        },
    )
    _sync("--account", account.slug, "--full")
    run = SyncRun.objects.get()
    assert StockLevel.objects.get(sku="GOOD").on_hand == 7, (run.status, run.errors)


def test_paging_without_a_total_stops_when_the_erp_ignores_the_page(settings, rsps):
    """Without meta.total only a short page ends TradeGecko's listing. An ERP
    (or a proxy) that ignores `page` answers the same full page for ever:
    the run stops at the first repeat with a clear error, not after the
    20 calls this test allows before it answers a short page."""
    settings.INVENTORY_SYNC_PAGE_SIZE = 2
    account = tg.make_account()
    account.settings = {"max_attempts": 1, "backoff_base_seconds": 0.001}
    account.save()
    LocationFactory(code="159")
    calls = []

    def same_page(request):
        calls.append(request.url)
        variants = [_variant("A", 159, "1"), _variant("B", 159, "2")]
        body = {"variants": variants if len(calls) <= 20 else []}
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    rsps.add_callback(responses.GET, tg.VARIANTS, callback=same_page)
    failed = _sync("--account", account.slug, "--full")
    run = SyncRun.objects.get()
    assert len(calls) <= 5, (len(calls), run.status)
    assert failed is None or "sync failed" in failed
    assert "paging_ignored" in {error["code"] for error in run.errors}
    assert StockLevel.objects.get(sku="A").on_hand == 1


def test_a_sku_holding_u_fffd_is_synced_like_any_other(rsps):
    """An ERP SKU that really holds U+FFFD (legacy data imported with a bad
    encoding) reaches a sync as the ERP sent it (nothing replaced it): its
    figure is applied, so the ERP's 0 stops the storefront selling the 5
    units the level held."""
    from inventory import services
    from inventory.services import InsufficientStock, LineRequest

    account = tg.make_account()
    loc = LocationFactory(code="159")
    StockLevelFactory(sku="CAF\ufffd-MUG", location=loc, on_hand=5)
    _gecko(rsps, [_variant("CAF\ufffd-MUG", 159, "0")])
    _sync("--account", account.slug, "--full")
    with pytest.raises(InsufficientStock):
        services.reservation_create(
            order_id="o1", lines=[LineRequest("CAF\ufffd-MUG", 1)]
        )


def test_a_huge_exponent_stock_figure_is_refused_at_once(rsps):
    """TradeGecko's stock_on_hand is a decimal string: '1E+1000000' is a
    whole number, but int() of it builds a million-digit integer (40 s of
    CPU; '1E+10000000' hours) before the bound refuses it. It is refused on
    the decimal, and the rest of the page applied."""
    import time

    account = tg.make_account()
    LocationFactory(code="159")
    _gecko(rsps, [_variant("OK", 159, "3"), _variant("HUGE", 159, "1E+1000000")])
    began = time.monotonic()
    _sync("--account", account.slug, "--full")
    elapsed = time.monotonic() - began
    assert StockLevel.objects.get(sku="OK").on_hand == 3
    assert elapsed < 5, f"one ERP row held the sync for {elapsed:.0f} s"
    (error,) = SyncRun.objects.get().errors
    assert "beyond" in error["message"], error


def test_whole_units_refuses_a_huge_exponent_without_building_it():
    """The shared reader of TradeGecko's and NetSuite's decimal quantities."""
    from inventory.providers.base import UnreadableLevel, whole_units

    for text in ("1E+1000000", "-1E+999999999", "1000000001"):
        with pytest.raises(UnreadableLevel, match="beyond"):
            whole_units(text, field="quantityonhand", sku="S", location_code="1")
    assert whole_units("1E+3", field="q", sku="S", location_code="1") == 1000
    assert whole_units("-1000000000", field="q", sku="S", location_code="1") == -(10**9)


def test_an_http_stock_huge_figure_is_refused_alone_and_at_once(rsps):
    """The generic stock service's on_hand is a JSON number: 1E+1000000
    (read as infinity) is not a whole number, and a 4,000-digit integer is
    beyond any stock. Each is a refused level, shown in the run, neither
    stored nor turned into a huge integer; the rest of the batch is synced."""
    import time

    account = hs.make_account()
    main = LocationFactory(code="MAIN")
    for sku in ("A", "INF", "LONG"):
        StockLevelFactory(sku=sku, location=main, on_hand=1)
    body = (
        '{"levels": ['
        '{"sku": "A", "location": "MAIN", "on_hand": 9, "modified_at": null}, '
        '{"sku": "INF", "location": "MAIN", "on_hand": 1E+1000000}, '
        '{"sku": "LONG", "location": "MAIN", "on_hand": ' + "9" * 4000 + "}]}"
    )
    rsps.get(hs.LEVELS, body=body, content_type="application/json")
    began = time.monotonic()
    _sync("--account", account.slug)
    elapsed = time.monotonic() - began

    run = SyncRun.objects.get()
    levels = dict(StockLevel.objects.values_list("sku", "on_hand"))
    assert levels == {"A": 9, "INF": 1, "LONG": 1}, (run.status, run.errors)
    refused = {error["sku"]: error for error in run.errors}
    assert set(refused) == {"INF", "LONG"}, run.errors
    assert refused["INF"]["message"] == "on_hand: not a whole number"
    # Refused by the column's bound, without echoing 4,000 digits to staff.
    assert refused["LONG"]["code"] == "invalid_level"
    assert "9999" not in refused["LONG"]["message"], refused["LONG"]
    assert elapsed < 5, f"one ERP row held the sync for {elapsed:.0f} s"
