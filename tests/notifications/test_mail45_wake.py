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
from notifications.models import EmailMessage, EmailStatus, SandboxEmail
from notifications.providers.sandbox import SandboxEmailAdapter
from notifications.services import (
    email_message_create,
    email_messages_sweep,
    email_waiting_wake,
)
from notifications.services.sending import email_message_deliver
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db
ORDER = {"order_id": "o-1", "amount_display": "€1.00"}


@pytest.fixture
def paused(settings):
    """The one email account, under staff's maintenance."""
    settings.EMAIL_RETRY_AFTER_SECONDS = 60
    settings.BATCH_DEFER_MAX_SECONDS = 1800
    account = ProviderAccountFactory(kind="email", slug="mail-only", priority=1)
    breaker_mode_set(account=account, mode=BreakerMode.FORCED_OPEN, actor="ops")
    return account


def _waiting_mail(oncommit, waits: int = 3) -> EmailMessage:
    """An order mail that met only the paused account ``waits`` times: its
    next try minutes away."""
    with oncommit(execute=True):
        message = email_message_create(
            to="ada@example.com", template="order_confirmation", context=ORDER
        )
    for _ in range(waits - 1):
        message.refresh_from_db()
        email_message_deliver(message_pk=message.pk)
    message.refresh_from_db()
    assert message.status == EmailStatus.QUEUED
    assert (message.retry_at - database_now()).total_seconds() > 200
    return message


def _sent_once(message: EmailMessage) -> None:
    message.refresh_from_db()
    assert (message.status, message.attempts) == (EmailStatus.SENT, 1)
    assert message.retry_at is None
    assert SandboxEmail.objects.count() == 1


def _post_data(account: ProviderAccount, **overrides) -> dict:
    data = {
        "kind": account.kind,
        "provider": account.provider,
        "slug": account.slug,
        "display_name": account.display_name,
        "priority": str(account.priority),
        "enabled": "on",
        "mode": account.mode,
        "breaker_mode": account.breaker_mode,
        "setting__latency_ms": "0",
        "setting__error_rate": "0",
    }
    data.update(overrides)
    return data


def test_setting_the_breaker_back_to_automatic_sends_it_now(
    paused, django_capture_on_commit_callbacks
) -> None:
    message = _waiting_mail(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        breaker_mode_set(account=paused, mode=BreakerMode.AUTO, actor="ops")
    _sent_once(message)
    # The sweep later (its old next try passed) sends nothing more.
    email_messages_sweep(now=database_now() + timedelta(hours=1))
    _sent_once(message)


def test_the_admin_setting_it_back_sends_it_now(
    paused, django_capture_on_commit_callbacks, admin_client
) -> None:
    message = _waiting_mail(django_capture_on_commit_callbacks)
    url = reverse("admin:integrations_provideraccount_change", args=[paused.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, _post_data(paused, breaker_mode="auto"))
    assert response.status_code == 302, response.content
    _sent_once(message)


def test_the_admin_enabling_the_account_again_sends_it_now(
    paused, django_capture_on_commit_callbacks, admin_client
) -> None:
    message = _waiting_mail(django_capture_on_commit_callbacks)
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
    data = {
        "form-TOTAL_FORMS": "1",
        "form-INITIAL_FORMS": "1",
        "form-0-id": str(paused.pk),
        "form-0-priority": str(paused.priority),
        "form-0-enabled": "on",
        "_save": "Save",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, data)
    assert response.status_code == 302, response.content
    paused.refresh_from_db()
    assert paused.enabled
    _sent_once(message)


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
    message = _waiting_mail(django_capture_on_commit_callbacks)
    before = message.retry_at
    other = ProviderAccountFactory(
        kind="email", slug="mail-off", priority=2, enabled=False
    )
    breaker_mode_set(account=other, mode=BreakerMode.FORCED_OPEN, actor="ops")
    with django_capture_on_commit_callbacks(execute=True):
        breaker_mode_set(account=other, mode=BreakerMode.AUTO, actor="ops")
    message.refresh_from_db()
    assert (message.status, message.retry_at) == (EmailStatus.QUEUED, before)
