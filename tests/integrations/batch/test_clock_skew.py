"""Batch rows whatever the machines' clocks: a chunk's lease and a row's
retry are measured on the database's clock, so a sweeper on another machine
never takes back a live worker's rows, and a retry waits its backoff."""

from datetime import timedelta

import pytest

from integrations.batch import WorkState, batch_job_create, batch_job_work
from integrations.batch import batch_jobs_sweep as sweep
from integrations.clock import database_now
from integrations.models import BatchItem, BatchJob
from integrations.testing.clocks import machine_clock, shared_by_machines
from tests.integrations.batch.handlers import H, effects, record

pytestmark = pytest.mark.django_db

SKEW = 300  # a machine whose NTP broke: five minutes off
THIS = "tests.integrations.batch.test_clock_skew"
_sweeper_skew: list[float] = []


@pytest.fixture(autouse=True)
def _two_machines(settings, enqueued) -> None:
    if not shared_by_machines():
        pytest.skip("SQLite is opened by processes of one machine only")
    settings.BATCH_LEASE_SECONDS = 60
    _sweeper_skew.clear()


def swept_meanwhile(row: BatchItem) -> None:
    """A handler during whose call another machine's sweep runs."""
    with machine_clock(_sweeper_skew[0]):
        sweep()
    record(row)


def _job(handler: str, n: int = 3, payload: dict | None = None) -> BatchJob:
    items = [(f"k{i}", payload or {}) for i in range(n)]
    return batch_job_create(kind="test.batch", handler=handler, items=items)


@pytest.mark.parametrize(
    ("worker", "sweeper"),
    [(-SKEW, 0), (0, SKEW)],
    ids=["worker_behind", "sweeper_ahead"],
)
def test_a_sweep_on_another_machine_leaves_a_live_chunk(worker, sweeper) -> None:
    _sweeper_skew.append(sweeper)
    job = _job(f"{THIS}.swept_meanwhile")

    with machine_clock(worker):
        result = batch_job_work(job_id=job.pk, budget_seconds=0)

    assert (result.state, result.done, result.lost) == (WorkState.STOPPED, 3, 0)
    assert effects(job.pk) == {"k0": 1, "k1": 1, "k2": 1}
    assert set(BatchItem.objects.values_list("attempts", flat=True)) == {1}


@pytest.mark.parametrize("worker", [-SKEW, SKEW], ids=["behind", "ahead"])
def test_a_rows_retry_waits_its_backoff_by_the_databases_clock(worker) -> None:
    job = _job(f"{H}.flaky", n=1, payload={"fail_times": 1})

    with machine_clock(worker):
        batch_job_work(job_id=job.pk, budget_seconds=0)

    row = BatchItem.objects.get(job=job)
    wait = row.next_attempt_at - database_now()
    assert timedelta(seconds=25) < wait <= timedelta(seconds=30)
