"""Review of mail40's empty-subject failover, where it meets the retry
rules: an account skipped for the subject is not an account that may take
the message sooner (a Retry-After from the one that can is kept), and a
message that fails after waiting for a closed account keeps its ``failed``
event (the email log's timeline ends where its status does)."""

from datetime import timedelta

import pytest
import responses
from django.utils import timezone

from integrations.breaker import breaker_mode_set
from integrations.errors import NotProcessed
from integrations.models import ProviderAccount
from integrations.models.accounts import BreakerMode
from notifications.models import EmailMessage, EmailStatus
from notifications.providers.sandbox import SandboxEmailAdapter
from notifications.services import email_message_create
from notifications.services.sending import (
    email_message_deliver,
    email_messages_sweep,
)
from tests.factories import ProviderAccountFactory
from tests.notifications.contract import harness_sendgrid

pytestmark = pytest.mark.django_db


@pytest.fixture
def sendgrid() -> ProviderAccount:
    account = harness_sendgrid.make_account()
    account.priority = 1
    account.enabled = False
    account.save()
    return account


@pytest.fixture
def provider() -> responses.RequestsMock:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(harness_sendgrid.SEND_URL, status=400, json={"errors": []})
        yield rsps


def _blank_subject() -> EmailMessage:
    message = email_message_create(
        to="ada@example.com",
        template="newsletter",
        category="marketing",
        context={"headline": " ", "body": "News."},
        enqueue=False,
    )
    assert message.subject == ""
    return message


def test_the_retry_after_of_the_account_that_can_take_it_is_kept(
    sendgrid, provider, monkeypatch, settings
) -> None:
    ProviderAccountFactory(kind="email", slug="sandbox-2", priority=2)
    calls: list[str] = []

    def limited(self, message, **kwargs):
        calls.append(message.to)
        raise NotProcessed("slow down", code="rate_limited", retry_after=900)

    monkeypatch.setattr(SandboxEmailAdapter, "deliver", limited)
    message = _blank_subject()
    sendgrid.enabled = True
    sendgrid.save()
    before = timezone.now()

    assert email_message_deliver(message_pk=message.pk) == EmailStatus.QUEUED

    message.refresh_from_db()
    assert message.retry_at is not None
    assert message.retry_at >= before + timedelta(seconds=890)
    # The sweeper's usual pause is not the provider's: it waits the 900s.
    later = before + timedelta(seconds=settings.EMAIL_RETRY_AFTER_SECONDS + 60)
    email_messages_sweep(now=later)
    assert len(calls) == 1
    assert len(provider.calls) == 0


def test_a_message_that_fails_after_waiting_keeps_its_failed_event(
    sendgrid, provider
) -> None:
    sandbox = ProviderAccountFactory(kind="email", slug="sandbox-2", priority=2)
    message = _blank_subject()
    sendgrid.enabled = True
    sendgrid.save()
    breaker_mode_set(account=sandbox, mode=BreakerMode.FORCED_OPEN, actor="ops")
    assert email_message_deliver(message_pk=message.pk) == EmailStatus.QUEUED
    # The account that could send it is retired: only SendGrid is left.
    sandbox.enabled = False
    sandbox.save()

    email_messages_sweep(now=timezone.now() + timedelta(hours=1))

    message.refresh_from_db()
    assert (message.status, message.error_code) == (EmailStatus.FAILED, "subject_empty")
    types = list(message.events.order_by("pk").values_list("type", flat=True))
    assert types[-1] == EmailStatus.FAILED, types
    failed = message.events.get(type=EmailStatus.FAILED)
    assert failed.details["code"] == "subject_empty"
    assert len(provider.calls) == 0
