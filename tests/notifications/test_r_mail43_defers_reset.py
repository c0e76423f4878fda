"""Review of mail43's defer back-off: a row's ``defers`` count was never
reset, so a row that waited out one long pause, was then really tried (its
account back, failing a moment), and met a new pause started at its longest
wait (30 min) instead of EMAIL_RETRY_AFTER_SECONDS. A real attempt ends the
pause the count measured: the next wait starts again at the first step."""

import pytest

from integrations.batch import WorkState, batch_job_work
from integrations.breaker import breaker_mode_set
from integrations.clock import database_now
from integrations.errors import NotProcessed
from integrations.models import BatchJob, BatchRowStatus
from integrations.models.accounts import BreakerMode
from notifications.models import BulkRecipient
from notifications.providers.outcomes import unsupported_message
from notifications.providers.sandbox import SandboxEmailAdapter
from tests.notifications.bulk_work import newsletter_bulk

pytestmark = pytest.mark.django_db


def _pass(job_id: int):
    BulkRecipient.objects.filter(job_id=job_id).update(next_attempt_at=database_now())
    BatchJob.objects.filter(pk=job_id).update(paced_until=None)
    return batch_job_work(job_id=job_id, budget_seconds=0)


def test_a_real_attempt_starts_the_next_pause_at_the_first_wait(
    email_accounts, monkeypatch, no_batch_tasks
) -> None:
    primary, secondary = email_accounts

    def deliver(self, message, **kwargs):
        if self.account.slug == primary.slug:
            raise unsupported_message("relay A lacks SMTPUTF8")
        raise NotProcessed("B answered 503", code="http_503")

    monkeypatch.setattr(SandboxEmailAdapter, "deliver", deliver)
    breaker_mode_set(account=secondary, mode=BreakerMode.FORCED_OPEN)
    bulk = newsletter_bulk([{"email": "ada@example.com"}])
    for _ in range(4):  # waits of 60, 120, 240, 480 s
        _pass(bulk.job_id)
    row = BulkRecipient.objects.get(bulk_send=bulk)
    assert (row.status, row.defers) == (BatchRowStatus.PENDING, 4)

    # B is back, and fails a moment: a real attempt, spent.
    breaker_mode_set(account=secondary, mode=BreakerMode.AUTO)
    _pass(bulk.job_id)
    row.refresh_from_db()
    assert (row.status, row.attempts) == (BatchRowStatus.PENDING, 1)

    # B paused again: the row's wait starts over.
    breaker_mode_set(account=secondary, mode=BreakerMode.FORCED_OPEN)
    before = database_now()
    result = _pass(bulk.job_id)
    row.refresh_from_db()
    assert result.state == WorkState.WAITING
    assert (row.next_attempt_at - before).total_seconds() == pytest.approx(60, abs=5)
