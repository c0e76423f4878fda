"""A single send waiting for a paused account (staff forced its breaker open,
or disabled it) is tried at once when staff make the account usable again
(breaker back to automatic, from the admin or ``breaker_mode_set``; the
account enabled again), not when its backoff ends (up to
BATCH_DEFER_MAX_SECONDS). Before, nothing woke it. Each is sent once, however
often it is woken or swept."""

from datetime import timedelta

import pytest
from django.urls import reverse

from integrations.breaker import breaker_mode_set
from integrations.clock import database_now
from integrations.errors import NotProcessed
from integrations.models import ProviderAccount
from integrations.models.accounts import BreakerMode
from notifications.models import EmailStatus, SandboxEmail
from notifications.providers.sandbox import SandboxEmailAdapter
from notifications.services import (
    email_message_create,
    email_messages_sweep,
    email_waiting_wake,
)
from notifications.services.sending import email_message_deliver
from tests.factories import ProviderAccountFactory
from tests.integrations.account_forms import (
    account_change_data,
    account_list_enable_data,
)
from tests.notifications.waiting import ORDER, sent_once, waiting_mail

pytestmark = pytest.mark.django_db


def test_setting_the_breaker_back_to_automatic_sends_it_now(
    paused, django_capture_on_commit_callbacks
) -> None:
    message = waiting_mail(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        breaker_mode_set(account=paused, mode=BreakerMode.AUTO, actor="ops")
    sent_once(message)
    # The sweep later (its old next try passed) sends nothing more.
    email_messages_sweep(now=database_now() + timedelta(hours=1))
    sent_once(message)


def test_the_admin_setting_it_back_sends_it_now(
    paused, django_capture_on_commit_callbacks, admin_client
) -> None:
    message = waiting_mail(django_capture_on_commit_callbacks)
    url = reverse("admin:integrations_provideraccount_change", args=[paused.pk])
    with django_capture_on_commit_callbacks(execute=True):
        data = account_change_data(paused, breaker_mode="auto")
        response = admin_client.post(url, data)
    assert response.status_code == 302, response.content
    sent_once(message)


def test_the_admin_enabling_the_account_again_sends_it_now(
    paused, django_capture_on_commit_callbacks, admin_client
) -> None:
    message = waiting_mail(django_capture_on_commit_callbacks)
    # Staff disable the account and end its maintenance: still nothing to
    # send with, so the message keeps waiting ...
    ProviderAccount.objects.filter(pk=paused.pk).update(enabled=False)
    breaker_mode_set(account=paused, mode=BreakerMode.AUTO, actor="ops")
    message.refresh_from_db()
    assert message.status == EmailStatus.QUEUED
    assert SandboxEmail.objects.count() == 0
    # ... until they enable it again (the account list's check box).
    paused.refresh_from_db()
    url = reverse("admin:integrations_provideraccount_changelist")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, account_list_enable_data(paused))
    assert response.status_code == 302, response.content
    paused.refresh_from_db()
    assert paused.enabled
    sent_once(message)


def test_a_wait_a_provider_asked_for_is_kept(
    email_accounts, monkeypatch, settings
) -> None:
    """Retry-After from every account asked: not a pause, not woken."""
    settings.EMAIL_RETRY_AFTER_SECONDS = 60

    def busy(self, outbound, **kwargs):
        raise NotProcessed("slow down", code="rate_limited", retry_after=900)

    monkeypatch.setattr(SandboxEmailAdapter, "deliver", busy)
    message = email_message_create(
        to="ada@example.com",
        template="order_confirmation",
        context=ORDER,
        enqueue=False,
    )
    email_message_deliver(message_pk=message.pk)
    message.refresh_from_db()
    asked_at = message.retry_at
    assert asked_at is not None and message.defers == 0
    assert email_waiting_wake() == 0
    message.refresh_from_db()
    assert message.retry_at == asked_at


def test_an_account_still_paused_wakes_nothing(
    paused, django_capture_on_commit_callbacks
) -> None:
    """Another email account set back while the one it needs is still
    forced open: nothing woken (the other is disabled)."""
    message = waiting_mail(django_capture_on_commit_callbacks)
    before = message.retry_at
    other = ProviderAccountFactory(
        kind="email", slug="mail-off", priority=2, enabled=False
    )
    breaker_mode_set(account=other, mode=BreakerMode.FORCED_OPEN, actor="ops")
    with django_capture_on_commit_callbacks(execute=True):
        breaker_mode_set(account=other, mode=BreakerMode.AUTO, actor="ops")
    message.refresh_from_db()
    assert (message.status, message.retry_at) == (EmailStatus.QUEUED, before)
