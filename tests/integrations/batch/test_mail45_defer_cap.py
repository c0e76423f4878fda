"""A handler's ``Defer(retry_after)`` (a row waiting alone: a provider's
daily quota, a pause until a stated time) is believed up to
BATCH_DEFER_MAX_SECONDS, the longest a deferred row waits anyway, not cut to
the Retry-After ceiling (BREAKER_MAX_RETRY_AFTER_SECONDS, 600 s) and then
asked again every 10 minutes. A Retry-After read from a response is still
capped by the client, and never cut below that ceiling here."""

import pytest

from integrations.batch import Defer, batch_job_create, batch_job_work
from integrations.clock import database_now
from integrations.models import BatchItem

pytestmark = pytest.mark.django_db
ASKED = {"wait": 0.0}


def quota(row: BatchItem) -> None:
    raise Defer("daily quota reached", ASKED["wait"])


def _first_wait(asked: float) -> float:
    ASKED["wait"] = asked
    job = batch_job_create(
        kind="test.batch", handler=f"{__name__}.quota", items=[("k00", {})]
    )
    batch_job_work(job_id=job.pk, budget_seconds=0)
    row = BatchItem.objects.get(job=job)
    return (row.next_attempt_at - database_now()).total_seconds()


@pytest.mark.parametrize(
    ("asked", "limit", "waited"),
    [
        (86_400, 1800, 1800),  # a day: as long as any deferred row waits
        (1_200, 1800, 1200),  # the provider's own ask, past 600 s
        (900, 300, 600),  # a low BATCH_DEFER_MAX_SECONDS: Retry-After's cap
    ],
)
def test_a_defer_is_believed_up_to_the_defer_cap(
    settings, enqueued, asked, limit, waited
) -> None:
    settings.BATCH_DEFER_MAX_SECONDS = limit
    settings.BREAKER_MAX_RETRY_AFTER_SECONDS = 600
    assert round(_first_wait(asked), -1) == waited
