"""A sync run's claim is stamped, and its lease measured, by the database's
clock: a duplicate task or the schedule on a machine whose clock is minutes
off neither takes a live run from its worker (its pages asked twice, its
worker's last page rolled back) nor leaves a dead worker's run unresumed."""

from datetime import timedelta

import pytest

from integrations.clock import database_now
from integrations.testing.clocks import machine_clock, shared_by_machines
from inventory import services, tasks
from inventory.models import SyncRun
from tests.inventory.test_sync_tasks import asked, erp, queue  # noqa: F401

pytestmark = pytest.mark.django_db

SKEW = 240  # a machine whose NTP broke: four minutes off
LEASE = 60


@pytest.fixture(autouse=True)
def _two_machines(settings) -> None:
    if not shared_by_machines():
        pytest.skip("SQLite is opened by processes of one machine only")
    settings.INVENTORY_SYNC_LEASE_SECONDS = LEASE


def _held(erp, claimed_ago: float = 0) -> SyncRun:  # noqa: F811
    """A run a worker claimed ``claimed_ago`` seconds ago (database's clock)."""
    run = services.sync_run_start(account=erp, full=True)
    at = database_now() - timedelta(seconds=claimed_ago)
    SyncRun.objects.filter(pk=run.pk).update(
        status="running", claimed_at=at, started_at=at, progress_at=at
    )
    return run


def test_a_duplicate_task_on_a_fast_machine_leaves_a_live_run(
    erp,  # noqa: F811
    queue,  # noqa: F811
    asked,  # noqa: F811
) -> None:
    run = _held(erp)

    with machine_clock(SKEW):
        assert tasks.run_sync(run.pk) == "not_claimed"
    assert asked == []


def test_a_fast_schedule_does_not_resume_a_live_run(
    erp,  # noqa: F811
    queue,  # noqa: F811
    django_capture_on_commit_callbacks,
) -> None:
    _held(erp)

    with machine_clock(SKEW), django_capture_on_commit_callbacks(execute=True):
        assert services.sync_runs_resume() == 0
    assert queue == []


def test_a_slow_schedule_resumes_a_dead_workers_run(
    erp,  # noqa: F811
    queue,  # noqa: F811
    django_capture_on_commit_callbacks,
) -> None:
    run = _held(erp, claimed_ago=LEASE + 5)

    with machine_clock(-SKEW), django_capture_on_commit_callbacks(execute=True):
        assert services.sync_runs_resume() == 1
    assert queue == [run.pk]


def test_a_slow_worker_saves_its_pages_by_the_databases_clock(
    erp,  # noqa: F811
    queue,  # noqa: F811
    django_capture_on_commit_callbacks,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        run = services.sync_run_queue(account=erp, full=True)
    queue.clear()
    before = database_now()
    with machine_clock(-SKEW), django_capture_on_commit_callbacks(execute=True):
        tasks.run_sync(run.pk)  # one page, then the next task is enqueued

    run.refresh_from_db()
    assert run.pages == 1
    # Claimed and saved at the database's time, not four minutes before.
    assert before <= run.progress_at
