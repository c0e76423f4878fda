"""A row whose lease was lost while its handler ran (another worker took it
back) and that then raises ``Defer`` is not ours to defer: the row is left
to the worker that holds it, and the run counts it lost, not deferred (the
``switchyard_batch_rows_total`` metric and the run's tally), as for any
other outcome of a lost lease."""

import pytest
from django.utils import timezone

from integrations.batch import (
    Defer,
    WorkState,
    batch_job_create,
    batch_job_work,
    own_transactions,
)
from integrations.models import BatchItem, BatchRowStatus

pytestmark = pytest.mark.django_db


@own_transactions
def taken_back_then_deferred(row: BatchItem) -> None:
    # Committed (a handler that commits its own writes, as the bulk email
    # send's): the sweeper released the expired lease and another worker claimed it.
    BatchItem.objects.filter(pk=row.pk).update(claimed_at=timezone.now())
    raise Defer("waiting for its account", 60)


def test_a_lost_row_is_not_counted_deferred(enqueued) -> None:
    job = batch_job_create(
        kind="test.batch",
        handler=f"{__name__}.taken_back_then_deferred",
        items=[("k00", {})],
    )

    result = batch_job_work(job_id=job.pk, budget_seconds=0)

    assert (result.deferred, result.lost) == (0, 1)
    row = BatchItem.objects.get(job=job)
    # The other worker's lease stands: not handed back by us.
    assert (row.status, row.attempts, row.last_error) == (
        BatchRowStatus.RUNNING,
        1,
        "",
    )
    assert result.state == WorkState.WAITING
