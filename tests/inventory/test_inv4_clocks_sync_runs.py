"""A sync run's start and the times of the pages it owes are stamped by the
database's clock, the one its lease, the stale-run cut and the other runs
are measured by: a worker or schedule whose clock is minutes off neither
asks an owed page early or late nor starts the daily full sync early or
late, and a run it starts is not older or younger than it is."""

from datetime import timedelta

import pytest

from integrations.clock import database_now
from integrations.testing.clocks import (
    machine_clock,
    shared_by_machines,
    whole_machine_clock,
)
from inventory import services, tasks
from inventory.models import SyncRun
from tests.inventory.test_sync_tasks import erp, queue  # noqa: F401

pytestmark = pytest.mark.django_db

SKEW = 240  # a machine whose NTP broke: four minutes off
SKEWS = pytest.mark.parametrize("machine", [-SKEW, SKEW], ids=["behind", "ahead"])


@pytest.fixture(autouse=True)
def _two_machines() -> None:
    if not shared_by_machines():
        pytest.skip("SQLite is opened by processes of one machine only")


@SKEWS
def test_a_run_queued_by_a_skewed_machine_starts_at_the_databases_time(
    erp,  # noqa: F811
    queue,  # noqa: F811
    machine,
) -> None:
    before = database_now()
    with whole_machine_clock(machine):
        run = services.sync_run_queue(account=erp, full=True)
    after = database_now()

    assert before <= SyncRun.objects.get(pk=run.pk).started_at <= after


@SKEWS
def test_a_run_claimed_by_a_skewed_worker_starts_at_the_databases_time(
    erp,  # noqa: F811
    queue,  # noqa: F811
    machine,
) -> None:
    run = services.sync_run_queue(account=erp, full=True)
    before = database_now()
    with whole_machine_clock(machine):
        tasks.run_sync(run.pk)
    after = database_now()

    assert before <= SyncRun.objects.get(pk=run.pk).started_at <= after


def _last_full(erp, ago: timedelta) -> None:  # noqa: F811
    at = database_now() - ago
    SyncRun.objects.create(
        account=erp, full=True, status="succeeded", covered=True, started_at=at
    )


def test_a_fast_schedule_does_not_start_the_full_sync_early(
    erp,  # noqa: F811
    queue,  # noqa: F811
    settings,
) -> None:
    _last_full(
        erp, timedelta(hours=settings.INVENTORY_SYNC_FULL_EVERY_HOURS, seconds=-60)
    )

    with machine_clock(SKEW):
        tasks.sync_all_accounts()

    assert SyncRun.objects.latest("pk").full is False


def test_a_slow_schedule_starts_the_full_sync_when_due(
    erp,  # noqa: F811
    queue,  # noqa: F811
    settings,
) -> None:
    _last_full(
        erp, timedelta(hours=settings.INVENTORY_SYNC_FULL_EVERY_HOURS, seconds=60)
    )

    with machine_clock(-SKEW):
        tasks.sync_all_accounts()

    assert SyncRun.objects.latest("pk").full is True
