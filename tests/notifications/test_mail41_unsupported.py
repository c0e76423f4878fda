"""A message every account refuses as ``unsupported_message`` (a permanent
"this account cannot carry it", not a fault that passes) ends ``failed`` at
once with that code, its reasons kept for staff, not retried until its
attempts run out. A transient failure on any account still means a retry.
Single sends, bulk rows and staff resends alike."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from integrations.batch import WorkState, batch_job_work
from integrations.batch import services as batch_services
from integrations.errors import NotProcessed
from integrations.models import BatchRowStatus
from notifications.models import BulkRecipient, EmailMessage, EmailStatus
from notifications.providers.outcomes import unsupported_message
from notifications.providers.sandbox import SandboxEmailAdapter
from notifications.services.bulk import bulk_send_create
from notifications.services.failures import public_error
from notifications.services.sending import email_message_deliver
from tests.notifications.sends import order_mail

pytestmark = pytest.mark.django_db


@pytest.fixture
def answers(email_accounts, monkeypatch) -> dict[str, Exception]:
    """What each sandbox account answers a send with, by slug."""
    primary, secondary = email_accounts
    found = {
        primary.slug: unsupported_message("relay A lacks SMTPUTF8"),
        secondary.slug: unsupported_message("relay B lacks SMTPUTF8"),
    }

    def deliver(self, message, **kwargs):
        raise found[self.account.slug]

    monkeypatch.setattr(SandboxEmailAdapter, "deliver", deliver)
    return found


def _assert_failed_unsupported(message: EmailMessage) -> None:
    message.refresh_from_db()
    assert message.status == EmailStatus.FAILED
    assert message.error_code == "unsupported_message"
    # Each account's reason, for staff.
    assert "relay A lacks SMTPUTF8" in message.last_error
    assert "relay B lacks SMTPUTF8" in message.last_error
    assert "cannot carry" in public_error(message)
    (failed,) = message.events.filter(type=EmailStatus.FAILED)
    assert failed.details["code"] == "unsupported_message"


def test_refused_everywhere_it_fails_at_once(answers) -> None:
    message = order_mail()

    assert email_message_deliver(message_pk=message.pk) == EmailStatus.FAILED

    _assert_failed_unsupported(message)
    assert message.attempts == 1
    assert not message.events.filter(type="retry").exists()


def test_a_transient_failure_on_one_account_still_retries(
    answers, email_accounts
) -> None:
    answers[email_accounts[1].slug] = NotProcessed("busy", code="provider_busy")
    message = order_mail()

    assert email_message_deliver(message_pk=message.pk) == EmailStatus.QUEUED

    message.refresh_from_db()
    assert message.events.filter(type="retry").exists()


def test_a_bulk_row_refused_everywhere_fails_without_a_retry(
    answers, monkeypatch
) -> None:
    monkeypatch.setattr(batch_services, "async_task", lambda *a, **kw: None)
    monkeypatch.setattr(batch_services, "schedule", lambda *a, **kw: None)
    bulk = bulk_send_create(
        template="newsletter",
        context={"headline": "Hi", "body": "News."},
        recipients=[{"email": "ada@example.com"}],
    ).bulk_send

    batch_job_work(job_id=bulk.job_id, budget_seconds=0)

    _assert_failed_unsupported(EmailMessage.objects.get())
    row = BulkRecipient.objects.get(bulk_send=bulk)
    assert row.status == BatchRowStatus.FAILED
    assert "lacks SMTPUTF8" in row.last_error
    assert row.attempts == 1
    assert batch_job_work(job_id=bulk.job_id, budget_seconds=0).state != (
        WorkState.MORE
    )


def test_a_staff_resend_refused_everywhere_fails_at_once(
    answers, django_capture_on_commit_callbacks
) -> None:
    message = order_mail()
    email_message_deliver(message_pk=message.pk)
    staff = Client()
    staff.force_login(User.objects.create_superuser("boss", "b@example.com", "pw"))
    with django_capture_on_commit_callbacks(execute=False):
        staff.post(
            "/admin/notifications/emailmessage/",
            {"action": "resend", "_selected_action": [message.pk]},
        )
    copy = EmailMessage.objects.exclude(pk=message.pk).get()

    assert email_message_deliver(message_pk=copy.pk) == EmailStatus.FAILED

    _assert_failed_unsupported(copy)
