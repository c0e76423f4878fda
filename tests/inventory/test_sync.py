"""ERP syncs from the sandbox ERP through the shared client: paging,
incremental runs, failed pages, on-hand changes that keep reservations, and
the sync_inventory command."""

import io
import json
from dataclasses import replace
from datetime import timedelta

import psycopg
import pytest
import responses
from django.core.management import CommandError, call_command
from django.db import OperationalError
from django.utils import timezone

from integrations.errors import Unknown
from integrations.models import Event, ProviderCall
from inventory import services
from inventory.models import SandboxErpLevel, StockLevel, SyncRun
from inventory.providers.base import RejectedLevel, StockLevelRecord
from inventory.providers.sandbox import SandboxInventoryAdapter
from inventory.services import LineRequest
from inventory.services import sync as sync_module
from tests.factories import ProviderAccountFactory
from tests.inventory.contract import harness_http_stock as hs
from tests.inventory.factories import LocationFactory, StockLevelFactory

pytestmark = pytest.mark.django_db
SECRET = "ns_canary_Q7w8e9r0t1"


@pytest.fixture
def erp(settings):
    settings.INVENTORY_SYNC_PAGE_SIZE = 2
    return ProviderAccountFactory(kind="inventory", slug="erp")


def _erp_level(account, sku, on_hand, *, location="MAIN", age_minutes=60):
    return SandboxErpLevel.objects.create(
        account=account,
        sku=sku,
        location_code=location,
        on_hand=on_hand,
        modified_at=timezone.now() - timedelta(minutes=age_minutes),
    )


def test_full_sync_pages_through_the_erp(erp):
    for n in range(4):
        _erp_level(erp, f"S{n}", 10 + n)
    _erp_level(erp, "S0", 3, location="EAST")
    run = services.inventory_sync(account=erp, full=True)
    assert (run.status, run.pages, run.items_seen, run.items_changed) == (
        "succeeded",
        3,
        5,
        5,
    )
    assert StockLevel.objects.count() == 5
    assert StockLevel.objects.get(sku="S0", location__code="EAST").on_hand == 3
    assert run.high_water is not None
    assert ProviderCall.objects.filter(operation="inventory_levels").count() == 3


def test_incremental_sync_asks_only_for_changes(erp, settings):
    _erp_level(erp, "A", 10)
    _erp_level(erp, "B", 10)
    first = services.inventory_sync(account=erp)
    SandboxErpLevel.objects.filter(sku="B").update(
        on_hand=7, modified_at=timezone.now()
    )
    second = services.inventory_sync(account=erp)
    # From when the last complete run started (less the margin for clock
    # drift), not from the newest modification time it saw.
    margin = timedelta(seconds=settings.INVENTORY_SYNC_SINCE_MARGIN_SECONDS)
    assert second.since == first.started_at - margin
    assert (second.items_seen, second.items_changed) == (1, 1)
    assert StockLevel.objects.get(sku="B").on_hand == 7


def test_failed_page_is_recorded_and_the_rest_continues(erp, monkeypatch, settings):
    for n in range(6):
        _erp_level(erp, f"S{n}", 10)
    real = SandboxInventoryAdapter.levels

    def flaky(self, query):
        if query.cursor == "2":
            raise Unknown("ERP timed out", code="read_timeout")
        return real(self, query)

    monkeypatch.setattr(SandboxInventoryAdapter, "levels", flaky)
    run = services.inventory_sync(account=erp, full=True)
    assert run.status == "partial"
    assert run.items_seen == 4 and run.items_failed == 2
    assert run.errors[0]["code"] == "read_timeout" and run.errors[0]["cursor"] == "2"
    assert sorted(StockLevel.objects.values_list("sku", flat=True)) == [
        "S0",
        "S1",
        "S4",
        "S5",
    ]
    # The run missed a page: "since" stays, and the next run reads the
    # window again (here everything: no run read its whole listing yet).
    monkeypatch.setattr(SandboxInventoryAdapter, "levels", real)
    following = services.inventory_sync(account=erp)
    assert following.since is None and not run.covered
    assert (following.status, following.owed) == ("succeeded", [])
    assert StockLevel.objects.filter(sku__in=["S2", "S3"]).count() == 2


def test_sync_lowering_on_hand_keeps_reservations_and_flags_oversold(erp):
    level = StockLevelFactory(sku="A", on_hand=10, low_threshold=2)
    reservation = services.reservation_create(
        order_id="o-1", lines=[LineRequest("A", 8, location_code="MAIN")]
    )
    _erp_level(erp, "A", 5)
    run = services.inventory_sync(account=erp, full=True)
    assert run.items_changed == 1
    level.refresh_from_db()
    reservation.refresh_from_db()
    assert (level.on_hand, level.reserved, level.state) == (5, 8, "oversold")
    assert level.oversold_by == 3
    assert reservation.status == "active" and reservation.lines.get().quantity == 8
    oversold = Event.objects.get(name=services.OVERSOLD)
    assert oversold.payload["oversold_by"] == 3
    changed = Event.objects.filter(name=services.LEVEL_CHANGED).order_by("pk")
    assert [e.payload["state"] for e in changed] == ["low", "oversold"]


def test_a_sync_of_an_unchanged_erp_figure_keeps_units_already_sold(erp):
    """Confirming lowers on-hand here before the ERP hears of it (the confirm
    forward is still queued): re-reading the ERP's unchanged figure must not
    give the sold units back."""
    LocationFactory(code="MAIN")  # set up by staff: its stock is sellable
    _erp_level(erp, "A", 10)
    services.inventory_sync(account=erp, full=True)
    sold = services.reservation_create(order_id="o1", lines=[LineRequest("A", 10)])
    services.reservation_confirm(reservation=sold)
    assert StockLevel.objects.get(sku="A").on_hand == 0

    services.inventory_sync(account=erp)  # the 15-minute run; the ERP is unchanged
    services.inventory_sync(account=erp, full=True)

    level = StockLevel.objects.get(sku="A")
    assert level.on_hand == 0, f"the 10 sold units are back: on_hand {level.on_hand}"


def test_a_change_made_in_the_erp_during_an_incremental_run_is_synced_later(
    erp, settings
):
    """A level changed in the ERP after its page was read is older than the
    newest modification time the run saw; the next run still asks for it."""
    settings.INVENTORY_SYNC_PAGE_SIZE = 1
    a, b = _erp_level(erp, "A", 10), _erp_level(erp, "B", 10)
    SandboxErpLevel.objects.update(modified_at=a.modified_at)  # one ERP batch
    assert services.inventory_sync(account=erp, full=True).status == "succeeded"

    def erp_moves_during_the_run(run: SyncRun) -> None:
        if run.pages == 1:  # page 1 (A) was read and applied
            SandboxErpLevel.objects.filter(pk=a.pk).update(
                on_hand=3, modified_at=timezone.now()
            )
            SandboxErpLevel.objects.filter(pk=b.pk).update(
                on_hand=4, modified_at=timezone.now() + timedelta(seconds=1)
            )

    run = services.inventory_sync(account=erp, progress=erp_moves_during_the_run)
    assert run.status == "succeeded"
    services.inventory_sync(account=erp)
    assert StockLevel.objects.get(sku="B").on_hand == 4
    assert StockLevel.objects.get(sku="A").on_hand == 3


def test_a_number_change_within_the_same_state_announces_nothing(erp):
    StockLevelFactory(sku="A", on_hand=50)
    _erp_level(erp, "A", 40)
    services.inventory_sync(account=erp, full=True)
    assert StockLevel.objects.get(sku="A").on_hand == 40
    assert not Event.objects.filter(name=services.LEVEL_CHANGED).exists()


def test_older_records_are_ignored(erp):
    now = timezone.now()
    StockLevelFactory(sku="A", on_hand=9, erp_modified_at=now)
    result = services.stock_levels_apply(
        account=erp,
        records=[StockLevelRecord("A", "MAIN", 1, now - timedelta(seconds=1))],
        now=now,
    )
    assert (result.ignored, result.changed) == (1, 0)
    assert StockLevel.objects.get(sku="A").on_hand == 9


def test_a_second_sync_while_one_runs_is_refused(erp):
    services.sync_run_start(account=erp)
    with pytest.raises(services.InventoryError) as info:
        services.sync_run_start(account=erp)
    assert info.value.code == "sync_running"


def test_a_crashed_sync_ends_failed_with_its_cause_and_blocks_nothing(erp, monkeypatch):
    _erp_level(erp, "A", 5)

    def crash(**kwargs):
        raise ValueError("disk full")

    monkeypatch.setattr("inventory.services.sync.stock_levels_apply", crash)
    with pytest.raises(services.InventoryError) as info:
        services.inventory_sync(account=erp)
    assert info.value.code == "sync_failed"
    run = SyncRun.objects.get()
    assert run.status == "failed"
    assert run.errors[-1] == {
        "code": "sync_failed",
        "message": "ValueError: disk full",
    }
    monkeypatch.undo()
    assert services.inventory_sync(account=erp).status == "succeeded"


def test_a_page_chosen_as_a_deadlocks_victim_is_applied_again(erp, monkeypatch):
    """PostgreSQL rolls a deadlock's victim back whole: the page (its answer
    in hand) is applied again, counted once, and the run goes on, where it
    used to end failed."""
    for n in range(3):
        _erp_level(erp, f"S{n}", 10 + n)
    real, tries = sync_module.stock_levels_apply, []

    def deadlocked_once(**kwargs):
        result = real(**kwargs)  # written, then rolled back with the page
        tries.append(len(kwargs["records"]))
        if len(tries) == 1:
            try:
                raise psycopg.errors.DeadlockDetected("deadlock detected")
            except psycopg.Error as exc:
                raise OperationalError(str(exc)) from exc
        return result

    monkeypatch.setattr(sync_module, "stock_levels_apply", deadlocked_once)
    run = services.inventory_sync(account=erp, full=True)
    assert tries == [2, 2, 1]
    assert (run.status, run.pages, run.items_seen, run.items_changed) == (
        "succeeded",
        2,
        3,
        3,
    )
    run.refresh_from_db()
    assert (run.pages, run.items_seen, run.errors) == (2, 3, [])
    assert StockLevel.objects.count() == 3


def test_a_page_deadlocked_every_time_ends_the_run_failed(erp, monkeypatch):
    """A deadlock again and again is a broken lock order: the run ends."""
    _erp_level(erp, "A", 5)

    def deadlocked(**kwargs):
        try:
            raise psycopg.errors.DeadlockDetected("deadlock detected")
        except psycopg.Error as exc:
            raise OperationalError(str(exc)) from exc

    monkeypatch.setattr(sync_module, "stock_levels_apply", deadlocked)
    with pytest.raises(services.InventoryError) as info:
        services.inventory_sync(account=erp)
    assert info.value.code == "sync_failed"
    assert SyncRun.objects.get().status == "failed"


def test_an_interrupted_sync_ends_failed_and_blocks_nothing(erp, monkeypatch):
    _erp_level(erp, "A", 5)

    def ctrl_c(**kwargs):
        raise KeyboardInterrupt  # the operator pressed Ctrl-C

    monkeypatch.setattr("inventory.services.sync.stock_levels_apply", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        call_command("sync_inventory", "--account", "erp", stdout=io.StringIO())
    monkeypatch.undo()
    out = io.StringIO()
    call_command("sync_inventory", "--account", "erp", stdout=out)  # at once

    first = SyncRun.objects.order_by("pk").first()
    assert (first.status, first.errors[-1]["code"]) == ("failed", "sync_interrupted")
    assert "succeeded" in out.getvalue()


def test_a_sync_whose_process_died_does_not_block_the_next(erp):
    stuck = services.sync_run_start(account=erp)
    SyncRun.objects.filter(pk=stuck.pk).update(
        status="running", started_at=timezone.now() - timedelta(hours=2)
    )
    services.sync_run_start(account=erp)
    stuck.refresh_from_db()
    assert stuck.status == "failed"


def test_an_account_without_an_adapter_is_one_command_line(erp):
    ProviderAccountFactory(kind="inventory", slug="odd", provider="no_such_erp")
    with pytest.raises(CommandError) as info:
        call_command("sync_inventory", "--account", "odd", stdout=io.StringIO())
    assert str(info.value).startswith("odd: ")
    assert "\n" not in str(info.value)


def test_a_providers_text_is_stored_with_known_secrets_masked(erp, monkeypatch):
    ProviderAccountFactory(
        kind="inventory", slug="netsuite-live", credentials={"token_secret": SECRET}
    )
    _erp_level(erp, "A", 5)

    def refuse(self, query):
        raise Unknown(f"bad token_secret={SECRET}", code="server_error")

    monkeypatch.setattr(SandboxInventoryAdapter, "levels", refuse)
    run = services.inventory_sync(account=erp)
    assert SECRET not in str(run.errors)
    assert "[redacted]" in run.errors[0]["message"]


def test_a_nul_or_lone_surrogate_in_an_erp_message_is_stored_replaced(erp, monkeypatch):
    # PostgreSQL refuses NUL in jsonb and UTF-8 cannot carry a lone
    # surrogate: stored as is, the run's save failed, and so did every run.
    _erp_level(erp, "A", 5)
    _erp_level(erp, "B", 5)
    _erp_level(erp, "C", 5)
    real = SandboxInventoryAdapter.levels

    def first_page_fails(self, query):
        if query.cursor == "":
            raise Unknown("bad\x00gate\ud800way", code="server_error")
        return real(self, query)

    monkeypatch.setattr(SandboxInventoryAdapter, "levels", first_page_fails)
    run = services.inventory_sync(account=erp)
    assert run.status == "partial"
    run.refresh_from_db()
    assert run.errors[0]["message"] == "bad\ufffdgate\ufffdway"


def test_command_prints_progress_and_summary(erp):
    for n in range(3):
        _erp_level(erp, f"S{n}", 10)
    out = io.StringIO()
    call_command("sync_inventory", "--account", "erp", "--full", stdout=out)
    text = out.getvalue()
    assert "pages 2  seen 3  changed 3" in text
    assert "erp                  succeeded" in text
    assert SyncRun.objects.get().full is True


def test_command_fails_on_an_outage_and_unknown_account(erp):
    erp.settings = {"outage": True}
    erp.save()
    with pytest.raises(CommandError, match="a sync failed"):
        call_command("sync_inventory", stdout=io.StringIO())
    with pytest.raises(CommandError, match="No inventory account"):
        call_command("sync_inventory", "--account", "nope", stdout=io.StringIO())


def test_an_opaque_cursor_ends_the_run_at_a_failed_page(erp, monkeypatch):
    for n in range(6):
        _erp_level(erp, f"S{n}", 10)
    real = SandboxInventoryAdapter.levels

    def flaky(self, query):
        if query.cursor == "2":
            raise Unknown("ERP timed out", code="read_timeout")
        return real(self, query)

    monkeypatch.setattr(SandboxInventoryAdapter, "levels", flaky)
    monkeypatch.setattr(SandboxInventoryAdapter, "cursor_after", lambda s, q: None)
    run = services.inventory_sync(account=erp, full=True)
    assert (run.status, run.pages, run.items_seen) == ("partial", 2, 2)


def test_an_erp_that_is_down_ends_the_run_after_three_pages(erp):
    erp.settings = {"outage": True}
    erp.save()
    run = services.inventory_sync(account=erp, full=True)
    assert (run.status, run.pages, len(run.errors)) == ("failed", 3, 3)
    assert run.errors[0]["code"] == "connection_refused"


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def _stock_level(sku, on_hand, **fields):
    entry = {"sku": sku, "location": "MAIN", "on_hand": on_hand}
    return {**entry, "modified_at": "2026-12-04T09:30:00Z", **fields}


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"on_hand": 2**31}, "on_hand"),  # beyond the int column
        # In the column, but our figure (less units sold) would not be.
        ({"on_hand": -(2**31)}, "on_hand"),
        ({"location": "L" * 33}, "location_code"),  # beyond Location.code
        ({"location": "\u0000"}, "location_code"),  # NUL: refused in PG text
    ],
    ids=["on_hand_2^31", "on_hand_-2^31", "location_33_chars", "location_nul"],
)
def test_a_level_our_columns_cannot_hold_is_dropped_and_the_run_goes_on(
    settings, rsps, bad, field
):
    """One level the ERP reports that our columns cannot hold no longer
    crashes the run (sync_failed, every later batch never applied): it is
    left out, counted and listed on the run, the rest is applied. The run
    is complete (no page was missed), so the next incremental one moves on:
    an ERP that keeps sending one bad record no longer holds "since" back."""
    settings.INVENTORY_SYNC_PAGE_SIZE = 1  # one SKU per batch
    account = hs.make_account()
    account.settings = {"max_attempts": 1, "backoff_base_seconds": 0.001}
    account.save()
    StockLevelFactory(sku="A", on_hand=1)
    StockLevelFactory(sku="B", on_hand=1)
    StockLevelFactory(sku="C", on_hand=1)
    answers = {
        "A": [{**_stock_level("A", 5), **bad}],
        "B": [_stock_level("B", 7)],
        "C": [{**_stock_level("C", 9), **bad}, _stock_level("C", 8, location="EU")],
    }

    def levels(request):
        sku = request.url.split("sku=")[1]
        return 200, {}, json.dumps({"levels": answers[sku]})

    rsps.add_callback(responses.GET, hs.LEVELS, callback=levels)
    out = io.StringIO()
    call_command("sync_inventory", "--account", account.slug, "--full", stdout=out)
    run = SyncRun.objects.get()

    assert (run.status, run.items_seen, run.items_failed) == ("succeeded", 2, 2)
    assert StockLevel.objects.get(sku="B", location__code="MAIN").on_hand == 7
    assert StockLevel.objects.get(sku="C", location__code="EU").on_hand == 8
    assert StockLevel.objects.get(sku="A").on_hand == 1
    first = run.errors[0]
    assert (first["code"], first["sku"]) == ("invalid_level", "A")
    assert first["message"].startswith(f"{field}: ")
    assert "\x00" not in json.dumps(run.errors)
    assert "  level A@" in out.getvalue()


def test_a_failed_page_after_many_refused_records_still_makes_the_run_partial(
    erp, monkeypatch
):
    """50 records refused as invalid would fill run.errors (MAX_ERRORS_KEPT);
    a page that then fails still makes the run partial, so 'since' never
    moves past a page that was never read."""
    for n in range(6):
        SandboxErpLevel.objects.create(
            account=erp,
            sku=f"S{n}",
            location_code="MAIN",
            on_hand=10,
            modified_at=timezone.now() - timedelta(minutes=60),
        )
    real = SandboxInventoryAdapter.levels
    bad = tuple(RejectedLevel(f"X{i}", "MAIN", "on_hand: too big") for i in range(50))

    def levels(self, query):
        if query.cursor == "2":
            raise Unknown("ERP timed out", code="read_timeout")
        page = real(self, query)
        if query.cursor == "":
            page = replace(page, rejected=bad)
        return page

    monkeypatch.setattr(SandboxInventoryAdapter, "levels", levels)
    run = services.inventory_sync(account=erp, full=True)
    # S2 and S3 were never read.
    assert not StockLevel.objects.filter(sku__in=["S2", "S3"]).exists()
    assert run.status == "partial"
    # The page never read is read by the next run, whatever filled errors:
    # it asks the whole listing again.
    assert not run.covered
    assert services.sync_run_start(account=erp).since is None
