"""A bulk row waiting alone for a paused account (account A refuses its
message for good, B, which could send it, is under staff's maintenance) is
made due at once and its job enqueued when staff make an email account
usable again, as a waiting single send is. Before, only single sends were
woken: the row waited out its own backoff (up to BATCH_DEFER_MAX_SECONDS)."""

import pytest

from integrations.batch import batch_job_work
from integrations.batch import services as batch_services
from integrations.breaker import breaker_mode_set
from integrations.clock import database_now
from integrations.models import BatchJob, BatchRowStatus
from integrations.models.accounts import BreakerMode
from notifications.models import BulkRecipient, EmailMessage, EmailStatus
from notifications.services import bulk_send, email_waiting_wake
from notifications.services.bulk import bulk_send_cancel
from tests.notifications.bulk_work import ODD, odd_and_others_bulk

pytestmark = pytest.mark.django_db


@pytest.fixture
def enqueued(monkeypatch) -> list[int]:
    """The jobs handed to the work task, which does not run."""
    jobs: list[int] = []
    monkeypatch.setattr(
        batch_services, "async_task", lambda name, job_id, *a, **kw: jobs.append(job_id)
    )
    monkeypatch.setattr(batch_services, "schedule", lambda *a, **kw: None)
    return jobs


@pytest.fixture
def waiting_row(enqueued, odd_waits, settings):
    """ODD's row, which only the paused B can send, waiting alone minutes
    away (three waits in a row); the others sent by A."""
    settings.EMAIL_RETRY_AFTER_SECONDS = 60
    bulk = odd_and_others_bulk()
    for _ in range(3):
        batch_job_work(job_id=bulk.job_id, budget_seconds=0)
        BulkRecipient.objects.filter(bulk_send=bulk, email=ODD).update(
            next_attempt_at=database_now()
        )
        BatchJob.objects.filter(pk=bulk.job_id).update(paced_until=None)
    batch_job_work(job_id=bulk.job_id, budget_seconds=0)
    row = BulkRecipient.objects.get(bulk_send=bulk, email=ODD)
    assert (row.status, row.defers) == (BatchRowStatus.PENDING, 4)
    assert (row.next_attempt_at - database_now()).total_seconds() > 200
    enqueued.clear()
    return row


def test_setting_b_back_makes_the_row_due_and_sends_it(
    waiting_row, email_accounts, enqueued, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        breaker_mode_set(account=email_accounts[1], mode=BreakerMode.AUTO)
    waiting_row.refresh_from_db()
    assert waiting_row.next_attempt_at <= database_now()
    assert enqueued == [waiting_row.job_id]

    batch_job_work(job_id=waiting_row.job_id, budget_seconds=0)
    message = EmailMessage.objects.get(
        bulk_send_id=waiting_row.bulk_send_id, to_email=ODD
    )
    assert (message.status, message.attempts) == (EmailStatus.SENT, 1)
    job = BatchJob.objects.get(pk=waiting_row.job_id)
    assert (job.status, job.done, job.failed) == ("done", 3, 0)


def test_a_second_wake_enqueues_the_job_no_more(
    waiting_row, email_accounts, enqueued, django_capture_on_commit_callbacks
) -> None:
    breaker_mode_set(account=email_accounts[1], mode=BreakerMode.AUTO)
    with django_capture_on_commit_callbacks(execute=True):
        email_waiting_wake()
    with django_capture_on_commit_callbacks(execute=True):
        email_waiting_wake()
    assert enqueued == [waiting_row.job_id]


def test_a_cancelled_sends_row_is_not_woken(
    waiting_row, email_accounts, enqueued, django_capture_on_commit_callbacks
) -> None:
    bulk_send_cancel(bulk_send=waiting_row.bulk_send)
    before = BulkRecipient.objects.get(pk=waiting_row.pk).next_attempt_at
    with django_capture_on_commit_callbacks(execute=True):
        breaker_mode_set(account=email_accounts[1], mode=BreakerMode.AUTO)
    assert BulkRecipient.objects.get(pk=waiting_row.pk).next_attempt_at == before
    assert enqueued == []


def test_a_wake_up_while_the_row_is_worked_has_it_tried_again_now(
    waiting_row, email_accounts, enqueued, monkeypatch
) -> None:
    """The row was claimed and its send met B paused; before the row records
    its wait, staff set B back and the wake-up runs (it finds the row
    leased, not waiting). The row must not then wait out a fresh backoff."""
    BulkRecipient.objects.filter(pk=waiting_row.pk).update(
        next_attempt_at=database_now()
    )
    original = bulk_send._wait_for_paused

    def racing(error):
        breaker_mode_set(account=email_accounts[1], mode=BreakerMode.AUTO)
        email_waiting_wake()
        return original(error)

    monkeypatch.setattr(bulk_send, "_wait_for_paused", racing)
    batch_job_work(job_id=waiting_row.job_id, budget_seconds=0)
    monkeypatch.setattr(bulk_send, "_wait_for_paused", original)
    row = BulkRecipient.objects.get(pk=waiting_row.pk)
    if row.status == BatchRowStatus.PENDING:
        assert row.next_attempt_at <= database_now()
        batch_job_work(job_id=waiting_row.job_id, budget_seconds=0)
    message = EmailMessage.objects.get(
        bulk_send_id=waiting_row.bulk_send_id, to_email=ODD
    )
    assert (message.status, message.attempts) == (EmailStatus.SENT, 1)
