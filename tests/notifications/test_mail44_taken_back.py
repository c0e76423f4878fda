"""A bulk send whose every other row waits for a paused account (its wake-up
minutes away) and whose worker died during one row's send: the sweeper takes
that row back due now and wakes the job for it, and the row keeps the
no-double-send rule (its message found ``sending`` becomes ``unknown``,
never sent again). Before, the row waited for the job's wake-up, up to
BATCH_DEFER_MAX_SECONDS."""

from datetime import timedelta

import pytest
from django_q.models import Schedule

from integrations.batch import batch_job_work
from integrations.batch import services as batch_services
from integrations.breaker import breaker_mode_set
from integrations.clock import database_now
from integrations.models import BatchJob, BatchRowStatus
from integrations.models.accounts import BreakerMode
from notifications.models import BulkRecipient, EmailStatus, SandboxEmail
from notifications.providers.outcomes import unsupported_message
from notifications.providers.sandbox import SandboxEmailAdapter
from tests.notifications.bulk_work import newsletter_bulk

pytestmark = pytest.mark.django_db

RECIPIENTS = [f"r{n}@example.com" for n in range(4)]
DYING = "dying@example.com"


class WorkerDied(BaseException):
    """The worker process killed mid-send (no handler catches it)."""


@pytest.fixture
def enqueued(monkeypatch) -> list[int]:
    jobs: list[int] = []
    monkeypatch.setattr(
        batch_services, "async_task", lambda func, job_id, *a, **kw: jobs.append(job_id)
    )
    return jobs


@pytest.fixture
def paused(email_accounts, monkeypatch) -> dict:
    """A refuses every message for good (B could send them, under staff's
    maintenance); ``die`` makes A's call for DYING kill the worker."""
    state = {"die": False}

    def deliver(self, message, **kwargs):
        if state["die"] and message.to == DYING:
            raise WorkerDied
        raise unsupported_message("relay A lacks SMTPUTF8")

    monkeypatch.setattr(SandboxEmailAdapter, "deliver", deliver)
    breaker_mode_set(account=email_accounts[1], mode=BreakerMode.FORCED_OPEN)
    return state


def test_a_row_taken_back_mid_send_is_worked_at_once_and_not_resent(
    paused, enqueued
) -> None:
    bulk = newsletter_bulk([{"email": e} for e in [*RECIPIENTS, DYING]])
    rows = BulkRecipient.objects.filter(job_id=bulk.job_id)
    for _ in range(4):  # every row waits 60, 120, 240 and now 480 s
        rows.update(next_attempt_at=database_now())
        batch_services.batch_job_run(job_id=bulk.job_id)
    wake_up = Schedule.objects.get(name=f"integrations.batch.job.{bulk.job_id}")
    assert wake_up.next_run > database_now() + timedelta(minutes=7)

    # The dying row's try: its message committed ``sending``, then the
    # worker is gone, the row still leased.
    paused["die"] = True
    rows.filter(email=DYING).update(next_attempt_at=database_now())
    with pytest.raises(WorkerDied):
        batch_job_work(job_id=bulk.job_id, budget_seconds=0)
    dying = rows.get(email=DYING)
    assert dying.status == BatchRowStatus.RUNNING
    assert dying.message.status == EmailStatus.SENDING
    # Its lease ran out; nobody touched the job since.
    now = database_now()
    rows.filter(email=DYING).update(claimed_at=now - timedelta(seconds=400))
    BatchJob.objects.filter(pk=bulk.job_id).update(worked_at=now - timedelta(minutes=5))
    enqueued.clear()

    assert batch_services.batch_jobs_sweep() == 1
    assert enqueued == [bulk.job_id]
    batch_job_work(job_id=bulk.job_id, budget_seconds=0)

    dying.refresh_from_db()
    assert dying.status == BatchRowStatus.FAILED
    assert "message unknown: the worker stopped during the send" in dying.last_error
    dying.message.refresh_from_db()
    assert dying.message.status == EmailStatus.UNKNOWN
    assert SandboxEmail.objects.count() == 0
    # The others still wait for B, their wake-up unchanged.
    others = rows.exclude(email=DYING)
    assert {r.status for r in others} == {BatchRowStatus.PENDING}
    assert all(r.next_attempt_at > database_now() for r in others)
