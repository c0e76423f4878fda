"""A message whose subject rendered empty, accepted while no enabled account
required a subject and sent after one (SendGrid, Mailgun) was enabled:
failover skips every account that requires a subject, without a call; when
no other account can take it the message ends ``failed`` with our own code
``subject_empty``. Single sends, bulk rows and staff resends alike."""

from datetime import timedelta

import pytest
import responses
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from integrations.batch import WorkState, batch_job_work
from integrations.batch import services as batch_services
from integrations.breaker import breaker_mode_set
from integrations.models import BatchRowStatus, ProviderAccount, ProviderCall
from integrations.models.accounts import BreakerMode
from notifications.models import BulkRecipient, EmailMessage, EmailStatus
from notifications.services import email_message_create
from notifications.services.bulk import bulk_send_create
from notifications.services.failures import public_error
from notifications.services.sending import (
    email_message_deliver,
    email_messages_sweep,
)
from tests.factories import ProviderAccountFactory
from tests.notifications.contract import harness_sendgrid

pytestmark = pytest.mark.django_db

# SendGrid's answer to a send without a subject (oai.json: subject minLength 1).
SUBJECT_REFUSAL = {
    "errors": [
        {
            "message": "The subject is required. You can get around this "
            "requirement if you use a template with a subject defined.",
            "field": "subject",
            "help": "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/"
            "errors.html#message.subject",
        }
    ]
}


@pytest.fixture
def sendgrid() -> ProviderAccount:
    """A SendGrid account, disabled while the message is accepted."""
    account = harness_sendgrid.make_account()
    account.priority = 1
    account.enabled = False
    account.save()
    return account


@pytest.fixture
def provider() -> responses.RequestsMock:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(harness_sendgrid.SEND_URL, status=400, json=SUBJECT_REFUSAL)
        yield rsps


def _enable(account: ProviderAccount) -> None:
    account.enabled = True
    account.save()


def _blank_subject() -> EmailMessage:
    message = email_message_create(
        to="ada@example.com",
        template="newsletter",
        category="marketing",
        context={"headline": "   ", "body": "News."},
        enqueue=False,
    )
    assert message.subject == ""
    return message


def _assert_failed_with_our_code(message: EmailMessage) -> None:
    message.refresh_from_db()
    assert message.status == EmailStatus.FAILED
    assert message.error_code == "subject_empty"
    assert "subject" in public_error(message)
    assert "get around" not in message.last_error  # not the provider's text
    failed = message.events.get(type=EmailStatus.FAILED)
    assert failed.details["code"] == "subject_empty"


def test_failover_skips_an_account_that_requires_a_subject(sendgrid, provider) -> None:
    sandbox = ProviderAccountFactory(kind="email", slug="sandbox-2", priority=2)
    message = _blank_subject()
    _enable(sendgrid)

    assert email_message_deliver(message_pk=message.pk) == EmailStatus.SENT

    message.refresh_from_db()
    assert message.account == sandbox
    assert len(provider.calls) == 0
    assert not ProviderCall.objects.filter(account=sendgrid).exists()


def test_no_account_can_take_it_so_it_fails_with_subject_empty(
    sendgrid, provider
) -> None:
    message = _blank_subject()
    _enable(sendgrid)

    assert email_message_deliver(message_pk=message.pk) == EmailStatus.FAILED

    _assert_failed_with_our_code(message)
    assert message.attempts == 0  # no provider was given it, and none will be
    assert len(provider.calls) == 0
    assert not ProviderCall.objects.filter(account=sendgrid).exists()


def test_it_waits_for_an_account_that_can_take_it_under_maintenance(
    sendgrid, provider, settings
) -> None:
    sandbox = ProviderAccountFactory(kind="email", slug="sandbox-2", priority=2)
    message = _blank_subject()
    _enable(sendgrid)
    breaker_mode_set(account=sandbox, mode=BreakerMode.FORCED_OPEN, actor="ops")

    assert email_message_deliver(message_pk=message.pk) == EmailStatus.QUEUED
    start = timezone.now()
    for minutes in range(2, 2 + 2 * settings.EMAIL_MAX_ATTEMPTS, 2):
        email_messages_sweep(now=start + timedelta(minutes=minutes))
    message.refresh_from_db()
    # Neither account was given it: no attempt used, not failed.
    assert (message.status, message.attempts) == (EmailStatus.QUEUED, 0)

    breaker_mode_set(account=sandbox, mode=BreakerMode.AUTO, actor="ops")
    email_messages_sweep(now=start + timedelta(hours=1))
    message.refresh_from_db()
    assert (message.status, message.account) == (EmailStatus.SENT, sandbox)
    assert len(provider.calls) == 0


def test_a_bulk_row_with_an_empty_subject_fails_with_subject_empty(
    sendgrid, provider, monkeypatch
) -> None:
    monkeypatch.setattr(batch_services, "async_task", lambda *a, **kw: None)
    monkeypatch.setattr(batch_services, "schedule", lambda *a, **kw: None)
    sandbox = ProviderAccountFactory(kind="email", slug="sandbox-2", priority=2)
    bulk = bulk_send_create(
        template="newsletter",
        context={"body": "News."},
        recipients=[
            {"email": "ada@example.com", "headline": "Hello"},
            {"email": "bob@example.com", "headline": " "},
        ],
    ).bulk_send
    sandbox.enabled = False
    sandbox.save()
    _enable(sendgrid)
    provider.replace(
        responses.POST,
        harness_sendgrid.SEND_URL,
        status=202,
        body=b"",
        headers={"X-Message-Id": "sg-1"},
    )

    for _ in range(20):
        if batch_job_work(job_id=bulk.job_id, budget_seconds=0).state != (
            WorkState.MORE
        ):
            break

    assert len(provider.calls) == 1  # ada's, with her subject
    sent = EmailMessage.objects.get(to_email="ada@example.com")
    assert sent.status == EmailStatus.SENT
    _assert_failed_with_our_code(EmailMessage.objects.get(to_email="bob@example.com"))
    row = BulkRecipient.objects.get(bulk_send=bulk, email="bob@example.com")
    assert row.status == BatchRowStatus.FAILED
    assert "subject" in row.last_error


def test_a_staff_resend_takes_the_same_rule(
    sendgrid, provider, django_capture_on_commit_callbacks
) -> None:
    message = _blank_subject()
    _enable(sendgrid)
    email_message_deliver(message_pk=message.pk)
    staff = Client()
    staff.force_login(User.objects.create_superuser("boss", "b@example.com", "pw"))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        staff.post(
            "/admin/notifications/emailmessage/",
            {"action": "resend", "_selected_action": [message.pk]},
        )
    assert callbacks  # the copy is enqueued on commit
    copy = EmailMessage.objects.exclude(pk=message.pk).get()
    assert email_message_deliver(message_pk=copy.pk) == EmailStatus.FAILED

    _assert_failed_with_our_code(copy)
    assert len(provider.calls) == 0
