"""ERP syncs on the workers: each task works one time budget and the next
resumes at the stored position (the ERP's cursor, or the SKUs done), never
asking a page twice or skipping one; a run whose task or worker was lost is
resumed, or failed, by the time of its last page; the command still works a
whole sync in one process."""

import io
import json
from datetime import timedelta

import pytest
import responses
from django.core.management import call_command
from django.utils import timezone

from inventory import services, tasks
from inventory.models import SandboxErpLevel, StockLevel, SyncRun
from inventory.providers.sandbox import SandboxInventoryAdapter
from tests.factories import ProviderAccountFactory
from tests.inventory.contract import harness_http_stock as hs
from tests.inventory.factories import StockLevelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def erp(settings):
    settings.INVENTORY_SYNC_PAGE_SIZE = 1
    # No time budget: every task applies exactly one page.
    settings.INVENTORY_SYNC_TIME_BUDGET_SECONDS = 0
    account = ProviderAccountFactory(kind="inventory", slug="erp")
    for n in range(4):
        SandboxErpLevel.objects.create(
            account=account, sku=f"S{n}", location_code="MAIN", on_hand=n
        )
    return account


@pytest.fixture
def queue(monkeypatch):
    """The tasks the services enqueue (run ids), instead of django-q."""
    enqueued: list[int] = []
    monkeypatch.setattr(
        "inventory.services.sync.async_task",
        lambda func, run_id, **kw: enqueued.append(run_id),
    )
    return enqueued


@pytest.fixture
def asked(monkeypatch):
    """The cursor of every page the sandbox ERP is asked for."""
    real, cursors = SandboxInventoryAdapter.levels, []

    def levels(self, query):
        cursors.append(query.cursor)
        return real(self, query)

    monkeypatch.setattr(SandboxInventoryAdapter, "levels", levels)
    return cursors


def _drain(queue, capture) -> int:
    """Work the enqueued tasks, and those they enqueue, as the workers would."""
    worked = 0
    while queue:
        with capture(execute=True):
            tasks.run_sync(queue.pop(0))
        worked += 1
    return worked


def test_each_task_resumes_after_the_last_page_applied(
    erp, queue, asked, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run = services.sync_run_queue(account=erp, full=True)
    assert _drain(queue, django_capture_on_commit_callbacks) == 4  # a page a task

    run.refresh_from_db()
    assert (run.status, run.pages, run.items_seen) == ("succeeded", 4, 4)
    assert asked == ["", "1", "2", "3"]
    assert StockLevel.objects.count() == 4


def test_a_sku_batch_run_resumes_by_sku_and_new_skus_shift_nothing(
    settings, queue, django_capture_on_commit_callbacks
):
    """levels_by_sku ERPs: a later task asks for the SKUs after the last one
    done, so a SKU created between two tasks neither repeats nor skips a
    batch; one sorting after the position is asked in this run."""
    settings.INVENTORY_SYNC_PAGE_SIZE = 1
    settings.INVENTORY_SYNC_TIME_BUDGET_SECONDS = 0
    account = hs.make_account()
    account.settings = {"max_attempts": 1, "backoff_base_seconds": 0.001}
    account.save()
    for sku in ("B", "D", "F"):
        StockLevelFactory(sku=sku, on_hand=1)
    asked = []

    def levels(request):
        (sku,) = request.url.split("sku=")[1:]
        asked.append(sku)
        level = {"sku": sku, "location": "MAIN", "on_hand": 5}
        return 200, {}, json.dumps({"levels": [level]})

    with responses.RequestsMock() as rsps:
        rsps.add_callback(responses.GET, hs.LEVELS, callback=levels)
        with django_capture_on_commit_callbacks(execute=True):
            run = services.sync_run_queue(account=account, full=True)
        for _ in range(2):  # B, then D
            with django_capture_on_commit_callbacks(execute=True):
                tasks.run_sync(queue.pop(0))
        StockLevelFactory(sku="A", on_hand=1)  # before the position
        StockLevelFactory(sku="E", on_hand=1)  # after it
        _drain(queue, django_capture_on_commit_callbacks)

    run.refresh_from_db()
    assert asked == ["B", "D", "E", "F"]
    assert (run.status, run.pages, run.items_seen) == ("succeeded", 4, 4)
    assert StockLevel.objects.get(sku="A").on_hand == 1  # the next run's


def test_a_worker_whose_run_was_taken_over_applies_nothing(
    erp, queue, asked, django_capture_on_commit_callbacks
):
    """The schedule took a slow worker for dead and a second one resumed the
    run: the first one's page rolls back (counters, position, levels) and
    the run goes on from the page before it, once."""
    run = services.sync_run_start(account=erp, full=True)
    real = SandboxInventoryAdapter.levels

    def overtaken(self, query):
        SyncRun.objects.filter(pk=run.pk).update(claimed_at=timezone.now())
        return real(self, query)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SandboxInventoryAdapter, "levels", overtaken)
        assert tasks.run_sync(run.pk) == "not_claimed"
    assert not StockLevel.objects.exists()
    run.refresh_from_db()
    assert (run.pages, run.items_seen, run.position) == (0, 0, None)
    assert not queue
    # The worker that took it over (its claim lapses here) goes on from the
    # page before: the first page is asked again once, then the rest.
    SyncRun.objects.filter(pk=run.pk).update(claimed_at=None)
    queue.append(run.pk)
    _drain(queue, django_capture_on_commit_callbacks)
    run.refresh_from_db()
    assert (run.status, run.pages, run.items_seen) == ("succeeded", 4, 4)
    assert asked == ["", "", "1", "2", "3"]


def test_a_run_held_by_a_live_worker_is_not_worked_twice(erp, queue, asked):
    run = services.sync_run_start(account=erp, full=True)
    SyncRun.objects.filter(pk=run.pk).update(
        status="running", claimed_at=timezone.now()
    )
    assert tasks.run_sync(run.pk) == "not_claimed"  # a duplicate task
    assert asked == [] and not queue


def test_a_run_whose_worker_died_is_resumed_by_the_schedule_from_its_last_page(
    erp, settings, queue, asked, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run = services.sync_run_queue(account=erp, full=True)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.run_sync(queue.pop(0))  # page 1
    queue.clear()  # its next task is lost with the worker
    lease = timedelta(seconds=settings.INVENTORY_SYNC_LEASE_SECONDS + 1)
    # The dead worker had claimed the run again and applied nothing since.
    SyncRun.objects.filter(pk=run.pk).update(
        claimed_at=timezone.now() - lease, progress_at=timezone.now() - lease
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.sync_all_accounts() == 0  # the account is still syncing
    assert queue == [run.pk]
    _drain(queue, django_capture_on_commit_callbacks)

    run.refresh_from_db()
    assert (run.status, run.pages, run.items_seen) == ("succeeded", 4, 4)
    assert asked == ["", "1", "2", "3"]


def test_a_long_run_that_keeps_applying_pages_is_not_taken_for_dead(erp):
    """Staleness counts from the last page, not from the start: a run that
    began two hours ago and applied a page a minute ago still blocks a
    second sync of its account, and goes on."""
    run = services.sync_run_start(account=erp)
    SyncRun.objects.filter(pk=run.pk).update(
        status="running",
        started_at=timezone.now() - timedelta(hours=2),
        progress_at=timezone.now() - timedelta(minutes=1),
    )
    with pytest.raises(services.InventoryError) as info:
        services.sync_run_start(account=erp)
    assert info.value.code == "sync_running"
    run.refresh_from_db()
    assert run.status == "running"


def test_a_run_no_page_moved_for_an_hour_is_failed_by_the_next_start(erp):
    run = services.sync_run_start(account=erp)
    SyncRun.objects.filter(pk=run.pk).update(
        status="running",
        claimed_at=timezone.now(),  # resumed in vain: the claim is recent
        progress_at=timezone.now() - timedelta(hours=1, minutes=1),
    )
    services.sync_run_start(account=erp)
    run.refresh_from_db()
    assert run.status == "failed"


def test_the_command_works_a_whole_sync_in_one_process(erp, queue, settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 1}
    out = io.StringIO()
    call_command("sync_inventory", "--account", "erp", "--full", stdout=out)
    run = SyncRun.objects.get()
    assert (run.status, run.pages, run.items_seen) == ("succeeded", 4, 4)
    assert "pages 4  seen 4" in out.getvalue()
    assert not queue  # no task: the budget is for the workers


def test_the_schedule_resumes_no_run_of_a_disabled_account(erp, settings, queue):
    run = services.sync_run_start(account=erp)
    lease = timedelta(seconds=settings.INVENTORY_SYNC_LEASE_SECONDS + 1)
    SyncRun.objects.filter(pk=run.pk).update(started_at=timezone.now() - lease)
    erp.enabled = False
    erp.save()
    assert services.sync_runs_resume() == 0
    erp.enabled = True
    erp.save()
    assert services.sync_runs_resume() == 1  # a queued run whose task was lost


def test_a_task_stopped_by_a_worker_shutdown_leaves_its_run_to_resume(
    erp, settings, queue, asked, monkeypatch, django_capture_on_commit_callbacks
):
    """A deploy stops the worker mid-page: the run is not failed (a long
    sync would start over, and 'since' would not move) but released, and
    the schedule resumes it from its last page."""
    with django_capture_on_commit_callbacks(execute=True):
        run = services.sync_run_queue(account=erp, full=True)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.run_sync(queue.pop(0))  # page 1
    real = SandboxInventoryAdapter.levels

    def shutdown(self, query):
        raise SystemExit  # the worker's shutdown, mid-page

    monkeypatch.setattr(SandboxInventoryAdapter, "levels", shutdown)
    with pytest.raises(SystemExit):
        tasks.run_sync(queue.pop(0))
    monkeypatch.setattr(SandboxInventoryAdapter, "levels", real)
    stopped = SyncRun.objects.get(pk=run.pk)
    assert (stopped.status, stopped.claimed_at) == ("running", None)
    lease = timedelta(seconds=settings.INVENTORY_SYNC_LEASE_SECONDS + 1)
    SyncRun.objects.filter(pk=run.pk).update(progress_at=timezone.now() - lease)

    with django_capture_on_commit_callbacks(execute=True):
        tasks.sync_all_accounts()
    _drain(queue, django_capture_on_commit_callbacks)

    run.refresh_from_db()
    assert (run.status, run.pages, run.items_seen) == ("succeeded", 4, 4)
