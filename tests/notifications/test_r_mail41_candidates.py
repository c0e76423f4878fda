"""Review of mail41's "refused everywhere fails at once": an account that
may still take the message (its breaker open or forced open by staff,
paced, timed out) keeps it queued (one whose provider this deploy cannot call
is a failed attempt, spent: mail43, r-mail43),
single send and bulk row alike; a bulk row whose template fails keeps one
failed message however often the row is worked."""

import shutil

import pytest

from integrations.batch import batch_job_work
from integrations.batch import services as batch_services
from integrations.breaker import breaker_for
from integrations.errors import NotProcessed, Rejected
from integrations.models import BatchRowStatus
from integrations.models.accounts import BreakerMode
from notifications import rendering
from notifications.models import BulkRecipient, EmailMessage, EmailStatus
from notifications.providers.outcomes import unsupported_message
from notifications.providers.sandbox import SandboxEmailAdapter
from notifications.services import email_message_create
from notifications.services.bulk import bulk_send_counts, bulk_send_create
from notifications.services.bulk_send import bulk_recipient_send
from notifications.services.sending import email_message_deliver
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def answers(email_accounts, monkeypatch):
    primary, secondary = email_accounts
    found = {
        primary.slug: unsupported_message("relay A lacks SMTPUTF8"),
        secondary.slug: unsupported_message("relay B lacks SMTPUTF8"),
    }

    def deliver(self, message, **kwargs):
        raise found[self.account.slug]

    monkeypatch.setattr(SandboxEmailAdapter, "deliver", deliver)
    return found


def _message():
    return email_message_create(
        to="ada@example.com",
        template="order_confirmation",
        context={"order_id": "1001", "amount_display": "€10.50"},
        enqueue=False,
    )


def _force_open(account):
    account.breaker_mode = BreakerMode.FORCED_OPEN
    account.save()
    breaker_for(account).publish_mode()
    assert breaker_for(account).is_open()


def test_unsupported_here_and_forced_open_there_waits(answers, email_accounts):
    _force_open(email_accounts[1])
    m = _message()
    assert email_message_deliver(message_pk=m.pk) == EmailStatus.QUEUED


def test_unsupported_here_and_an_uncallable_account_spends_its_attempts(
    answers, email_accounts, settings
):
    # An account this deploy cannot call is a failed attempt (r-mail43):
    # staff may mend it before the attempts run out, then it ends failed.
    settings.EMAIL_MAX_ATTEMPTS = 2
    ProviderAccountFactory(kind="email", slug="gone-x", provider="gone", priority=9)
    email_accounts[1].enabled = False
    email_accounts[1].save()
    m = _message()
    assert email_message_deliver(message_pk=m.pk) == EmailStatus.QUEUED
    assert email_message_deliver(message_pk=m.pk) == EmailStatus.FAILED
    m.refresh_from_db()
    assert m.error_code == "misconfigured"
    assert "gone-x (misconfigured)" in m.last_error


def test_unsupported_here_and_paced_there_waits_its_retry_after(
    answers, email_accounts
):
    answers[email_accounts[1].slug] = NotProcessed(
        "slow down", code="rate_limited", retry_after=30
    )
    m = _message()
    assert email_message_deliver(message_pk=m.pk) == EmailStatus.QUEUED
    m.refresh_from_db()
    assert m.retry_at is not None


def test_unsupported_here_and_timed_out_there_waits(answers, email_accounts):
    answers[email_accounts[1].slug] = NotProcessed("timed out", code="timeout")
    m = _message()
    assert email_message_deliver(message_pk=m.pk) == EmailStatus.QUEUED


def test_bulk_row_unsupported_here_and_forced_open_there_waits(
    answers, email_accounts, monkeypatch
):
    monkeypatch.setattr(batch_services, "async_task", lambda *a, **kw: None)
    monkeypatch.setattr(batch_services, "schedule", lambda *a, **kw: None)
    _force_open(email_accounts[1])
    bulk = bulk_send_create(
        template="newsletter",
        context={"headline": "Hi", "body": "News."},
        recipients=[{"email": "ada@example.com"}],
    ).bulk_send
    batch_job_work(job_id=bulk.job_id, budget_seconds=0)
    row = BulkRecipient.objects.get(bulk_send=bulk)
    assert row.status != BatchRowStatus.FAILED
    assert EmailMessage.objects.get().status == EmailStatus.QUEUED


def test_bulk_row_template_failure_worked_again_stores_one_message(
    email_accounts, monkeypatch, tmp_path, settings
):
    monkeypatch.setattr(batch_services, "async_task", lambda *a, **kw: None)
    monkeypatch.setattr(batch_services, "schedule", lambda *a, **kw: None)
    root = tmp_path / "base"
    shutil.copytree(rendering.templates_dir(), root / "templates" / "emails")
    settings.BASE_DIR = root
    rendering._engine.cache_clear()
    try:
        bulk = bulk_send_create(
            template="newsletter",
            context={"headline": "Hi", "body": "News."},
            recipients=[{"email": "bob@example.com"}],
        ).bulk_send
        (root / "templates" / "emails" / "newsletter" / "body.txt").write_text(
            "Hello {{ first_name }}"
        )
        rendering._engine.cache_clear()
        row = BulkRecipient.objects.get(bulk_send=bulk)
        for _ in range(2):
            with pytest.raises(Rejected):
                bulk_recipient_send(row)
        assert EmailMessage.objects.count() == 1
        assert bulk_send_counts(bulk) == {"failed": 1}
    finally:
        rendering._engine.cache_clear()
