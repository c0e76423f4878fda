"""A batch row's done_at is on the database's clock, as its claim is: a
worker whose clock is minutes off never marks a row done before it was
claimed (relaxed and plain handlers alike)."""

import pytest

from integrations.batch import batch_job_create, batch_job_work
from integrations.batch.rows import own_transactions, relaxed_done
from integrations.models import BatchItem, BatchRowStatus
from integrations.testing.clocks import machine_clock, shared_by_machines
from tests.integrations.batch.handlers import H, record

pytestmark = pytest.mark.django_db

SKEW = 300  # a machine whose NTP broke: five minutes off
THIS = "tests.integrations.batch.test_core_done_stamp"


@pytest.fixture(autouse=True)
def _two_machines(enqueued) -> None:
    if not shared_by_machines():
        pytest.skip("SQLite is opened by processes of one machine only")


@own_transactions
def own_record(row: BatchItem) -> None:
    record(row)


@relaxed_done
@own_transactions
def relaxed_record(row: BatchItem) -> None:
    record(row)


@pytest.mark.parametrize(
    "handler",
    [f"{H}.record", f"{THIS}.own_record", f"{THIS}.relaxed_record"],
    ids=["in_row_transaction", "own_transactions", "relaxed_done"],
)
@pytest.mark.parametrize("worker", [-SKEW, SKEW], ids=["behind", "ahead"])
def test_a_row_is_done_after_its_claim_whatever_the_workers_clock(
    handler, worker
) -> None:
    items = [(f"k{i}", {}) for i in range(3)]
    job = batch_job_create(kind="test.batch", handler=handler, items=items)

    with machine_clock(worker):
        batch_job_work(job_id=job.pk, budget_seconds=0)

    rows = list(BatchItem.objects.filter(job=job))
    assert {row.status for row in rows} == {BatchRowStatus.DONE}
    for row in rows:
        lag = (row.done_at - row.claimed_at).total_seconds()
        assert 0 <= lag < 60, (row.claimed_at, row.done_at)
