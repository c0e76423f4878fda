"""Pages a sync owes (``sync_owed``): carried to later runs and asked again
without alerting staff on every tick, filling the list, or freezing "since"."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.errors import Unknown
from inventory import services, tasks
from inventory.models import SandboxErpLevel, StockLevel, SyncRun
from inventory.providers.sandbox import SandboxInventoryAdapter
from inventory.services.sync import next_since
from tests.factories import ProviderAccountFactory
from tests.inventory.invy_owing import owing_sandbox  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("owing_sandbox")]


def _travel(monkeypatch, clock: list) -> None:
    """Time is ``clock[0]``, for this machine and for the database: a run's
    start, its lease and its owed pages' times are the database's."""
    monkeypatch.setattr("django.utils.timezone.now", lambda: clock[0])
    for module in ("inventory.services.sync", "inventory.services.sync_pages"):
        monkeypatch.setattr(f"{module}.database_now", lambda: clock[0])


def _owed_entry(i, when):
    return {
        "run": 0,
        "since": when.isoformat(),
        "cursor": str(100 + i),
        "limit": 1,
        "tries": 5,
        "failed_at": when.isoformat(),
        "next_at": (timezone.now() + timedelta(hours=6)).isoformat(),
        "code": "read_timeout",
        "message": "ERP timed out",
        "alerted": True,
    }


def test_a_full_run_owes_its_own_page_however_many_it_inherited(settings, monkeypatch):
    """A full run drops, at its end, every page owed before it: those it
    inherited do not count against MAX_OWED, so with 50 inherited it still
    owes its own failed page, ends covered and drops the 50 (or the owed
    list, and "since" with it, would never recover)."""
    settings.INVENTORY_SYNC_PAGE_SIZE = 1
    erp = ProviderAccountFactory(kind="inventory", slug="erp-cap")
    for sku in "ABC":
        SandboxErpLevel.objects.create(account=erp, sku=sku, location_code="MAIN")
    old = timezone.now() - timedelta(hours=30)
    SyncRun.objects.create(
        account=erp,
        status="partial",
        covered=True,
        owed=[_owed_entry(i, old) for i in range(50)],
        started_at=old,
        finished_at=old,
    )
    real = SandboxInventoryAdapter.levels

    def page_one_fails(self, query):
        if query.cursor == "1" and query.since is None:
            raise Unknown("ERP timed out", code="read_timeout")
        return real(self, query)

    monkeypatch.setattr(SandboxInventoryAdapter, "levels", page_one_fails)

    run = services.inventory_sync(account=erp, full=True)

    # Read to its end, its one failed page owed: it should drop the 50.
    assert run.covered is True
    assert [page["cursor"] for page in run.owed] == ["1"]


def test_a_bad_record_the_erp_keeps_changing_is_owed_once_and_alerted_once(
    settings, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    """One record breaks whichever page holds it and the ERP keeps changing
    it (a busy SKU), so every incremental run lists it anew: staff are
    alerted once, not every tick. Its pages are owed at two places: one of
    the full listing (the first run's) and one of the incremental listing
    (once per "since": each run's page may hold other records too)."""
    settings.INVENTORY_SYNC_PAGE_SIZE = 1
    clock = [timezone.now()]
    _travel(monkeypatch, clock)
    erp = ProviderAccountFactory(kind="inventory", slug="erp-hot")
    an_hour_ago = clock[0] - timedelta(hours=1)
    for sku in ("A", "BAD", "C"):
        SandboxErpLevel.objects.create(
            account=erp, sku=sku, location_code="MAIN", modified_at=an_hour_ago
        )
    real = SandboxInventoryAdapter.levels

    def bad_record_breaks_its_page(self, query):
        page = real(self, query)
        if any(record.sku == "BAD" for record in page.records):
            raise Unknown("ERP 500 serialising a variant", code="server_error")
        return page

    monkeypatch.setattr(SandboxInventoryAdapter, "levels", bad_record_breaks_its_page)
    for _ in range(10):
        SandboxErpLevel.objects.filter(sku="BAD").update(modified_at=clock[0])
        with django_capture_on_commit_callbacks(execute=True):
            tasks.sync_all_accounts()
        clock[0] += timedelta(minutes=15)

    assert caplog.messages.count("inventory sync page keeps failing") == 1
    owed = SyncRun.objects.latest("pk").owed
    places = {(page["cursor"], page["since"] is None) for page in owed}
    assert places == {("1", True), ("", False)}


def test_a_bad_record_the_erp_keeps_changing_does_not_freeze_since(
    settings, monkeypatch, django_capture_on_commit_callbacks
):
    """The record of the alert test, over a day and a half and across a
    daily full sync: its pages stay owed at one place of each listing, so
    the owed list never fills up (past MAX_OWED no run could owe it and none
    would move "since"), and every incremental run reads only what changed
    since the last tick."""
    settings.INVENTORY_SYNC_PAGE_SIZE = 1
    clock = [timezone.now()]
    _travel(monkeypatch, clock)
    erp = ProviderAccountFactory(kind="inventory", slug="erp-hot2")
    for sku in ("A", "BAD", "C"):
        SandboxErpLevel.objects.create(
            account=erp,
            sku=sku,
            location_code="MAIN",
            modified_at=clock[0] - timedelta(hours=1),
        )
    real = SandboxInventoryAdapter.levels

    def bad_record_breaks_its_page(self, query):
        page = real(self, query)
        if any(record.sku == "BAD" for record in page.records):
            raise Unknown("ERP 500 serialising a variant", code="server_error")
        return page

    monkeypatch.setattr(SandboxInventoryAdapter, "levels", bad_record_breaks_its_page)
    for _ in range(4 * 36):  # 36 hours of ticks
        SandboxErpLevel.objects.filter(sku="BAD").update(modified_at=clock[0])
        with django_capture_on_commit_callbacks(execute=True):
            tasks.sync_all_accounts()
        clock[0] += timedelta(minutes=15)

    fulls = SyncRun.objects.filter(full=True).values_list("covered", flat=True)
    assert list(fulls) == [True, True]
    owed = SyncRun.objects.latest("pk").owed
    assert len({(page["cursor"], page["since"] is None) for page in owed}) == 2
    assert clock[0] - next_since(erp) < timedelta(hours=1)


def test_an_erp_outage_owes_no_page_and_alerts_nobody(
    settings, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    """The ERP answers nothing for a few hours. Each tick's run gives up after
    three failed pages and moves no "since", so the next one reads them
    again anyway: it owes none of them, no owed page piles up to fail its
    third try and alert staff, and each tick asks the ERP three pages."""
    settings.INVENTORY_SYNC_PAGE_SIZE = 1
    clock = [timezone.now()]
    _travel(monkeypatch, clock)
    erp = ProviderAccountFactory(kind="inventory", slug="erp-down")
    for sku in ("A", "B", "C", "D", "E"):
        SandboxErpLevel.objects.create(
            account=erp,
            sku=sku,
            location_code="MAIN",
            modified_at=clock[0] - timedelta(hours=1),
        )
    # A first complete full sync while the ERP was up.
    with django_capture_on_commit_callbacks(execute=True):
        tasks.sync_all_accounts()
    clock[0] += timedelta(minutes=15)

    calls = []

    def down(self, query):
        calls[-1] += 1
        raise Unknown("ERP timed out", code="read_timeout")

    monkeypatch.setattr(SandboxInventoryAdapter, "levels", down)
    for _ in range(16):  # four hours
        calls.append(0)
        with django_capture_on_commit_callbacks(execute=True):
            tasks.sync_all_accounts()
        clock[0] += timedelta(minutes=15)

    alerts = caplog.messages.count("inventory sync page keeps failing")
    owed = SyncRun.objects.latest("pk").owed
    runs = list(SyncRun.objects.order_by("pk").values_list("status", "covered"))
    assert all(not covered for _, covered in runs[1:]), runs
    # Runs that gave up moved no "since": nothing of theirs needed owing.
    assert (alerts, len(owed)) == (0, 0), (alerts, len(owed))
    assert calls == [3] * 16


def test_a_run_stops_asking_owed_pages_after_three_fail_in_a_row(settings, monkeypatch):
    """Ten owed pages due and the ERP down: the run asks three of them (a
    failed retry counts towards the failures in a row), then its own
    listing, and gives up after three more."""
    settings.INVENTORY_SYNC_PAGE_SIZE = 1
    erp = ProviderAccountFactory(kind="inventory", slug="erp-down2")
    old = timezone.now() - timedelta(hours=2)
    due = [
        {
            **_owed_entry(i, old),
            "tries": 1,
            "alerted": False,
            "next_at": old.isoformat(),
        }
        for i in range(10)
    ]
    SyncRun.objects.create(
        account=erp,
        status="partial",
        covered=True,
        owed=due,
        started_at=old,
        finished_at=old,
    )
    asked = []

    def down(self, query):
        asked.append(query.cursor)
        raise Unknown("ERP timed out", code="read_timeout")

    monkeypatch.setattr(SandboxInventoryAdapter, "levels", down)

    run = services.inventory_sync(account=erp)

    assert asked == ["100", "101", "102", "", "1", "2"]
    assert run.covered is False
    # The owed pages stay owed; those asked wait longer, the rest are due.
    assert [page["tries"] for page in run.owed] == [2, 2, 2] + [1] * 7


def test_a_run_resumed_across_the_deploy_keeps_since_before_a_page_it_failed(
    settings, monkeypatch
):
    """A run that failed a page before the deploy (recorded in errors, not
    owed: the old code had no owed list) and is resumed after it: its stored
    position has no 'incomplete', so it ends covered and moves 'since' past
    the page it never read."""
    settings.INVENTORY_SYNC_PAGE_SIZE = 1
    erp = ProviderAccountFactory(kind="inventory", slug="erp-deploy")
    an_hour_ago = timezone.now() - timedelta(hours=1)
    for sku in ("A", "B", "C"):
        SandboxErpLevel.objects.create(
            account=erp,
            sku=sku,
            location_code="MAIN",
            on_hand=7,
            modified_at=an_hour_ago,
        )
    # Before the deploy: an earlier complete run, then this one asked page
    # "0" (A), failed page "1" (B), and saved the old-format position.
    SyncRun.objects.create(
        account=erp,
        status="succeeded",
        started_at=an_hour_ago - timedelta(hours=1),
        finished_at=an_hour_ago,
    )
    run = services.sync_run_start(account=erp)
    run.position = {
        "limit": 1,
        "cursor": "2",
        "skus": [],
        "after_sku": None,
        "failures": 1,
        "done": False,
    }
    run.errors = [
        {
            "cursor": "1",
            "skus": 0,
            "code": "read_timeout",
            "outcome": "unknown",
            "message": "ERP timed out",
        }
    ]
    run.pages = 2
    run.items_seen = 1
    run.save()

    run = services.sync_run_execute(run=run)
    assert run.status == "partial"
    # B was never read nor owed: this run must not move "since".
    assert run.covered is False


def test_a_try_rolled_back_by_a_takeover_alerts_nobody(settings, monkeypatch, caplog):
    """An owed page's third failed try in a task whose run another worker
    took over meanwhile: the try is rolled back (the other worker repeats
    it), so staff are alerted only once it is saved, not by both."""
    settings.INVENTORY_SYNC_PAGE_SIZE = 1
    erp = ProviderAccountFactory(kind="inventory", slug="erp-taken")
    old = timezone.now() - timedelta(hours=2)
    due = {**_owed_entry(0, old), "tries": 2, "alerted": False}
    SyncRun.objects.create(
        account=erp,
        status="partial",
        covered=True,
        owed=[{**due, "next_at": old.isoformat()}],
        started_at=old,
        finished_at=old,
    )
    run = services.sync_run_start(account=erp)

    def taken_over_while_asking(self, query):
        later = timezone.now() + timedelta(seconds=1)
        SyncRun.objects.filter(pk=run.pk).update(claimed_at=later)
        raise Unknown("ERP timed out", code="read_timeout")

    monkeypatch.setattr(SandboxInventoryAdapter, "levels", taken_over_while_asking)

    assert services.sync_run_continue(run_id=run.pk) is None
    assert "inventory sync page keeps failing" not in caplog.messages
    assert SyncRun.objects.get(pk=run.pk).owed[0]["tries"] == 2


def test_a_failed_page_of_another_since_is_not_the_owed_page(settings, monkeypatch):
    """Run I1 owes its first page (since S1, offset 0). Run I2's own first page
    (since S2, offset 0) holds other records; it fails too, but it is taken
    for the page already owed, so I2 ends covered and "since" moves past
    the record only it listed: no later incremental run reads it."""
    settings.INVENTORY_SYNC_PAGE_SIZE = 1
    clock = [timezone.now()]
    _travel(monkeypatch, clock)
    t0 = clock[0]
    erp = ProviderAccountFactory(kind="inventory", slug="erp-shift")
    for sku in "ABC":
        SandboxErpLevel.objects.create(
            account=erp,
            sku=sku,
            location_code="MAIN",
            on_hand=10,
            modified_at=t0 - timedelta(hours=1),
        )
    assert services.inventory_sync(account=erp, full=True).status == "succeeded"

    real = SandboxInventoryAdapter.levels
    flaky = [False]

    def first_pages_time_out(self, query):
        if flaky[0] and query.cursor == "":
            raise Unknown("ERP timed out", code="read_timeout")
        return real(self, query)

    monkeypatch.setattr(SandboxInventoryAdapter, "levels", first_pages_time_out)

    # I1: A and B changed; its first page (A) times out and is owed.
    clock[0] = t0 + timedelta(minutes=15)
    SandboxErpLevel.objects.filter(sku__in="AB").update(
        on_hand=5, modified_at=t0 + timedelta(minutes=5)
    )
    flaky[0] = True
    i1 = services.inventory_sync(account=erp)
    assert [p["cursor"] for p in i1.owed] == [""]

    # I2: C changed; the owed page and I2's own first page (C) time out.
    clock[0] = t0 + timedelta(minutes=30)
    SandboxErpLevel.objects.filter(sku="C").update(
        on_hand=7, modified_at=t0 + timedelta(minutes=20)
    )
    services.inventory_sync(account=erp)

    # The ERP is healthy again: the next runs read what they are owed.
    flaky[0] = False
    for minutes in (45, 60, 75):
        clock[0] = t0 + timedelta(minutes=minutes)
        services.inventory_sync(account=erp)

    assert StockLevel.objects.get(sku="A").on_hand == 5
    runs = list(SyncRun.objects.order_by("pk").values_list("since", "covered", "owed"))
    assert StockLevel.objects.get(sku="C").on_hand == 7, runs


def test_a_full_run_that_gives_up_keeps_the_owed_page_it_took_over(
    settings, monkeypatch
):
    """F1 (full) owes page "1" (B never read). F2 (full) fails at "1" too and
    takes that entry over as its own, then gives up (three in a row): not
    covered, it drops the pages it owes -- the inherited one with them. The
    next incremental runs start after F1's successors, so B is never read."""
    settings.INVENTORY_SYNC_PAGE_SIZE = 1
    clock = [timezone.now()]
    _travel(monkeypatch, clock)
    t0 = clock[0]
    erp = ProviderAccountFactory(kind="inventory", slug="erp-takeover")
    for sku in "ABCDE":
        SandboxErpLevel.objects.create(
            account=erp,
            sku=sku,
            location_code="MAIN",
            on_hand=10,
            modified_at=t0 - timedelta(hours=1),
        )
    real = SandboxInventoryAdapter.levels
    failing = [set()]

    def levels(self, query):
        if query.cursor in failing[0]:
            raise Unknown("ERP timed out", code="read_timeout")
        return real(self, query)

    monkeypatch.setattr(SandboxInventoryAdapter, "levels", levels)

    failing[0] = {"1"}  # B's page
    f1 = services.inventory_sync(account=erp, full=True)
    assert f1.covered and [p["cursor"] for p in f1.owed] == ["1"]

    clock[0] = t0 + timedelta(minutes=15)
    i1 = services.inventory_sync(account=erp)  # asks the owed page: fails
    assert i1.covered and [p["cursor"] for p in i1.owed] == ["1"]

    clock[0] = t0 + timedelta(minutes=30)
    failing[0] = {"1", "2", "3"}  # the ERP hiccups during the full run
    f2 = services.inventory_sync(account=erp, full=True)
    assert f2.covered is False

    failing[0] = set()  # healthy again
    for minutes in (45, 60, 75):
        clock[0] = t0 + timedelta(minutes=minutes)
        services.inventory_sync(account=erp)

    owed = [r.owed for r in SyncRun.objects.order_by("pk")]
    assert StockLevel.objects.filter(sku="B").exists(), owed


def test_a_page_still_failing_is_alerted_once_the_alerted_page_is_gone(
    settings, monkeypatch, caplog
):
    """Two owed pages keep failing; staff are alerted about the first, the
    second reaches its third try meanwhile and is marked alerted without an
    alert. The ERP's fault behind the first is fixed (its page answers and
    is dropped); the second keeps failing for ever and nobody is told."""
    settings.INVENTORY_SYNC_PAGE_SIZE = 1
    clock = [timezone.now()]
    _travel(monkeypatch, clock)
    erp = ProviderAccountFactory(kind="inventory", slug="erp-alerts")
    old = clock[0] - timedelta(hours=2)
    owed = [
        {
            "run": 0,
            "since": old.isoformat(),
            "cursor": cursor,
            "limit": 1,
            "tries": 2,
            "failed_at": old.isoformat(),
            "next_at": old.isoformat(),
            "code": "server_error",
            "message": "ERP 500",
            "alerted": False,
        }
        for cursor in ("100", "101")
    ]
    SyncRun.objects.create(
        account=erp,
        status="partial",
        covered=True,
        owed=owed,
        started_at=old,
        finished_at=old,
    )
    real = SandboxInventoryAdapter.levels
    broken = [{"100", "101"}]

    def levels(self, query):
        if query.cursor in broken[0]:
            raise Unknown("ERP 500 serialising a variant", code="server_error")
        return real(self, query)

    monkeypatch.setattr(SandboxInventoryAdapter, "levels", levels)

    services.inventory_sync(account=erp)
    assert caplog.messages.count("inventory sync page keeps failing") == 1

    broken[0] = {"101"}  # staff fixed the record behind page 100
    for _ in range(6):
        clock[0] += timedelta(hours=6)
        services.inventory_sync(account=erp)
    last = SyncRun.objects.latest("pk").owed
    # Page 101 keeps failing with no alerted page owed any more: tell staff.
    assert caplog.messages.count("inventory sync page keeps failing") == 2, last
