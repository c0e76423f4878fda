"""One bulk row that only a paused account could send waits on its own.

Account A (primary) refuses one recipient's message for good (it cannot
carry it) while account B, which could, is paused (staff's maintenance): the
row gives its attempt back and waits for B, as a single send waits (tried
again as often as a waiting single send is swept). Before, the row paced the
whole job, so the rows A sends waited for B too (every claim met the waiting
row first). Now the row alone waits (its own ``next_attempt_at``) and the
rest of the send goes on; the row is sent when B is back, or fails with each
account's reason once B is gone."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.batch import WorkState, batch_job_progress, batch_job_work
from integrations.batch import services as batch_services
from integrations.breaker import breaker_for, breaker_mode_set
from integrations.errors import NotProcessed
from integrations.models import BatchJob, BatchRowStatus
from integrations.models.accounts import BreakerMode
from notifications.models import BulkRecipient, EmailMessage, EmailStatus
from notifications.providers.outcomes import unsupported_message
from notifications.providers.sandbox import SandboxEmailAdapter
from notifications.services.bulk import bulk_send_counts, bulk_send_create

pytestmark = pytest.mark.django_db

ODD = "odd@example.com"
OTHERS = ["ada@example.com", "bob@example.com", "cy@example.com"]


@pytest.fixture(autouse=True)
def _no_tasks(monkeypatch) -> None:
    monkeypatch.setattr(batch_services, "async_task", lambda *a, **kw: None)
    monkeypatch.setattr(batch_services, "schedule", lambda *a, **kw: None)


@pytest.fixture
def sent(email_accounts, monkeypatch) -> list[tuple[str, str]]:
    """(account slug, recipient) of every message a sandbox took; the
    primary cannot carry ODD's message."""
    primary, _ = email_accounts
    original = SandboxEmailAdapter.deliver
    taken: list[tuple[str, str]] = []

    def deliver(self, message, **kwargs):
        if self.account.slug == primary.slug and ODD in message.to:
            raise unsupported_message("relay A lacks SMTPUTF8")
        result = original(self, message, **kwargs)
        taken.append((self.account.slug, message.to))
        return result

    monkeypatch.setattr(SandboxEmailAdapter, "deliver", deliver)
    return taken


def _bulk():
    return bulk_send_create(
        template="newsletter",
        context={"headline": "Hi", "body": "News."},
        recipients=[{"email": ODD}, *({"email": e} for e in OTHERS)],
    ).bulk_send


def _work(job_id: int, times: int = 4):
    """Work the job a few times, the job's own pacing (if any) over each
    time; a row's own wait is left as it is."""
    result = None
    for _ in range(times):
        result = batch_job_work(job_id=job_id, budget_seconds=0)
        BatchJob.objects.filter(pk=job_id).update(paced_until=None)
    return result


def _b_paused(email_accounts) -> None:
    breaker_mode_set(account=email_accounts[1], mode=BreakerMode.FORCED_OPEN)


def _b_breaker_open(email_accounts) -> None:
    breaker = breaker_for(email_accounts[1])
    for _ in range(20):
        breaker.record_failure(NotProcessed("refused", code="connection_refused"))


@pytest.mark.parametrize("pause", [_b_paused, _b_breaker_open])
def test_the_rest_of_the_send_goes_on_while_one_row_waits(
    email_accounts, sent, settings, pause
) -> None:
    pause(email_accounts)
    bulk = _bulk()
    before = timezone.now()

    result = _work(bulk.job_id)

    # A sent the three others; the row only B could send waits for B.
    assert sorted(to for _, to in sent) == sorted(OTHERS)
    assert result.state == WorkState.WAITING
    assert result.wait and result.wait > 0
    row = BulkRecipient.objects.get(bulk_send=bulk, email=ODD)
    assert (row.status, row.attempts) == (BatchRowStatus.PENDING, 0)
    # Tried again as often as a waiting single send is swept.
    wait = settings.EMAIL_RETRY_AFTER_SECONDS
    assert row.next_attempt_at >= before + timedelta(seconds=wait - 1)
    assert result.wait == pytest.approx(wait, abs=5)
    assert row.last_error.startswith("waiting")
    assert "relay A lacks SMTPUTF8" in row.last_error
    message = EmailMessage.objects.get(bulk_send=bulk, to_email=ODD)
    assert (message.status, message.attempts) == (EmailStatus.QUEUED, 0)
    # The send's figures: three sent, one waiting, none failed.
    assert bulk_send_counts(bulk) == {"sent": 3, "waiting": 1}
    job = BatchJob.objects.get(pk=bulk.job_id)
    progress = batch_job_progress(job)
    assert (progress.done, progress.failed, progress.total) == (3, 0, 4)
    assert job.status == "running"


def test_the_waiting_row_is_sent_once_b_is_back(email_accounts, sent) -> None:
    _b_paused(email_accounts)
    bulk = _bulk()
    _work(bulk.job_id)

    breaker_mode_set(account=email_accounts[1], mode=BreakerMode.AUTO)
    BulkRecipient.objects.filter(job_id=bulk.job_id).update(next_attempt_at=None)
    result = _work(bulk.job_id)

    assert result.state == WorkState.STOPPED
    # Each sent once; ODD's by B.
    assert sorted(sent) == sorted(
        [(email_accounts[1].slug, ODD)] + [(email_accounts[0].slug, e) for e in OTHERS]
    )
    message = EmailMessage.objects.get(bulk_send=bulk, to_email=ODD)
    assert (message.status, message.attempts) == (EmailStatus.SENT, 1)
    assert bulk_send_counts(bulk) == {"sent": 4}
    job = BatchJob.objects.get(pk=bulk.job_id)
    assert (job.status, job.done, job.failed) == ("done", 4, 0)


def test_the_waiting_row_fails_with_the_reasons_once_b_is_gone(
    email_accounts, sent
) -> None:
    _b_paused(email_accounts)
    bulk = _bulk()
    _work(bulk.job_id)

    secondary = email_accounts[1]
    secondary.enabled = False
    secondary.save()
    BulkRecipient.objects.filter(job_id=bulk.job_id).update(next_attempt_at=None)
    result = _work(bulk.job_id)

    assert result.state == WorkState.STOPPED
    message = EmailMessage.objects.get(bulk_send=bulk, to_email=ODD)
    assert message.status == EmailStatus.FAILED
    assert message.error_code == "unsupported_message"
    assert "relay A lacks SMTPUTF8" in message.last_error
    row = BulkRecipient.objects.get(bulk_send=bulk, email=ODD)
    assert row.status == BatchRowStatus.FAILED
    assert bulk_send_counts(bulk) == {"sent": 3, "failed": 1}
    job = BatchJob.objects.get(pk=bulk.job_id)
    assert (job.status, job.done, job.failed) == ("done", 3, 1)
    assert len(sent) == 3


def test_staff_and_the_api_see_the_row_waiting(
    email_accounts, sent, admin_client, email_reader
) -> None:
    _b_paused(email_accounts)
    bulk = _bulk()
    _work(bulk.job_id)

    page = admin_client.get(f"/admin/notifications/bulksend/{bulk.pk}/change/")
    assert page.status_code == 200
    assert b"sent: 3, waiting: 1" in page.content
    assert b"odd@example.com (pending, 0 attempt(s)): waiting for a paused" in (
        page.content
    )

    detail = email_reader.get(
        f"/api/v1/notifications/bulk-sends/{bulk.public_id}/"
    ).json()
    assert detail["status"] == "running"
    assert detail["outcomes"] == {"sent": 3, "waiting": 1}
    assert (detail["progress"]["done"], detail["progress"]["failed"]) == (3, 0)
