"""A bulk send met by a maintenance window (every email account forced open
by staff, or its breaker open): no account that could send a row's message
was asked, so the row's attempt is given back and the message waits, as a
single send's does (``sending._asked``); the job waits the batch's pacing
meanwhile, not a hot loop. Before, every retry of the row spent one of the
message's attempts and the row (and so the send) ended ``failed`` after
``EMAIL_MAX_ATTEMPTS`` tries while the accounts were merely paused."""

import pytest
from django.test import override_settings

from integrations.batch import WorkState, batch_job_work
from integrations.batch import services as batch_services
from integrations.breaker import breaker_for
from integrations.errors import NotProcessed
from integrations.models import BatchJob, BatchRowStatus
from integrations.models.accounts import BreakerMode
from notifications.models import BulkRecipient, EmailMessage, EmailStatus
from notifications.providers.sandbox import SandboxEmailAdapter
from notifications.services.bulk import bulk_send_counts, bulk_send_create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_tasks(monkeypatch) -> None:
    monkeypatch.setattr(batch_services, "async_task", lambda *a, **kw: None)
    monkeypatch.setattr(batch_services, "schedule", lambda *a, **kw: None)


def _maintenance(accounts, mode: str) -> None:
    for account in accounts:
        account.breaker_mode = mode
        account.save()
        breaker_for(account).publish_mode()


def _later(job_id: int) -> None:
    # Time passes: the job's pacing and the rows' backoff are over.
    BatchJob.objects.filter(pk=job_id).update(paced_until=None)
    BulkRecipient.objects.filter(job_id=job_id).update(next_attempt_at=None)


def _bulk():
    return bulk_send_create(
        template="newsletter",
        context={"headline": "Hi", "body": "News."},
        recipients=[{"email": "ada@example.com"}],
    ).bulk_send


@override_settings(EMAIL_MAX_ATTEMPTS=2, BATCH_MAX_ATTEMPTS=3)
def test_a_bulk_row_waits_out_a_maintenance_window(email_accounts) -> None:
    _maintenance(email_accounts, BreakerMode.FORCED_OPEN)
    bulk = _bulk()

    for _ in range(5):
        batch_job_work(job_id=bulk.job_id, budget_seconds=0)
        # The job waits the batch's pacing: not a hot loop.
        waiting = batch_job_work(job_id=bulk.job_id, budget_seconds=0)
        assert waiting.state == WorkState.WAITING
        assert waiting.wait and waiting.wait > 0
        _later(bulk.job_id)

    message = EmailMessage.objects.get(bulk_send=bulk)
    assert (message.status, message.attempts) == (EmailStatus.QUEUED, 0)
    assert message.events.filter(type="retry").count() == 1  # one per pause
    row = BulkRecipient.objects.get(bulk_send=bulk)
    assert (row.status, row.attempts) == (BatchRowStatus.PENDING, 0)

    # Maintenance over: the row's message is sent.
    _maintenance(email_accounts, BreakerMode.AUTO)
    for _ in range(5):
        if (
            batch_job_work(job_id=bulk.job_id, budget_seconds=0).state
            == WorkState.STOPPED
        ):
            break
        _later(bulk.job_id)
    message.refresh_from_db()
    assert (message.status, message.attempts) == (EmailStatus.SENT, 1)
    assert bulk_send_counts(bulk) == {"sent": 1}


@override_settings(EMAIL_MAX_ATTEMPTS=2, BATCH_MAX_ATTEMPTS=5)
def test_a_transient_failure_still_spends_the_rows_attempts(
    email_accounts, monkeypatch
) -> None:
    def busy(self, message, **kwargs):
        raise NotProcessed("busy", code="provider_busy")

    monkeypatch.setattr(SandboxEmailAdapter, "deliver", busy)
    bulk = _bulk()

    for _ in range(4):
        batch_job_work(job_id=bulk.job_id, budget_seconds=0)
        _later(bulk.job_id)

    message = EmailMessage.objects.get(bulk_send=bulk)
    assert (message.status, message.attempts) == (EmailStatus.FAILED, 2)
    row = BulkRecipient.objects.get(bulk_send=bulk)
    assert row.status == BatchRowStatus.FAILED
