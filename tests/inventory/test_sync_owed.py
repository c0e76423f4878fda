"""Pages a sync owes (``sync_owed``): carried to later runs and asked again
without alerting staff on every tick, filling the list, or freezing "since"."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.errors import Unknown
from inventory import services, tasks
from inventory.models import SandboxErpLevel, SyncRun
from inventory.providers.sandbox import SandboxInventoryAdapter
from inventory.services.sync import next_since
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db


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
    it (a busy SKU), so every incremental run lists it anew: the page is
    owed once (not once a run), and staff are alerted once, not every tick.
    Two pages stay owed: one of the full listing (the first run's) and one
    of the incremental listing."""
    settings.INVENTORY_SYNC_PAGE_SIZE = 1
    clock = [timezone.now()]
    monkeypatch.setattr("django.utils.timezone.now", lambda: clock[0])
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
    assert [(page["cursor"], page["since"] is None) for page in owed] == [
        ("1", True),
        ("", False),
    ]


def test_a_bad_record_the_erp_keeps_changing_does_not_freeze_since(
    settings, monkeypatch, django_capture_on_commit_callbacks
):
    """The record of the alert test, over a day and a half and across a
    daily full sync: its page stays owed once, so the owed list never fills
    up (past MAX_OWED no run could owe it and none would move "since"), and
    every incremental run reads only what changed since the last tick."""
    settings.INVENTORY_SYNC_PAGE_SIZE = 1
    clock = [timezone.now()]
    monkeypatch.setattr("django.utils.timezone.now", lambda: clock[0])
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
    assert len(SyncRun.objects.latest("pk").owed) == 2
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
    monkeypatch.setattr("django.utils.timezone.now", lambda: clock[0])
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
