"""A waiting single send is enqueued once when its paused account becomes
usable again, however many wake-ups arrive before its send task runs: one
admin save that enables the account and sets its breaker back to automatic
emits two events (two wake-ups, delivered one after the other in one task).
Enqueued twice, the second task claims the message again straight after the
first try, ignoring the Retry-After (or backoff) that try just set and
spending another attempt."""

import pytest
from django.urls import reverse

from integrations.breaker import breaker_mode_set
from integrations.models import ProviderAccount
from integrations.models.accounts import BreakerMode
from notifications.models import EmailStatus
from notifications.services import email_waiting_wake, sending
from notifications.services.sending import email_message_deliver
from tests.factories import ProviderAccountFactory
from tests.notifications.sends import order_mail

pytestmark = pytest.mark.django_db


@pytest.fixture
def enqueued(monkeypatch) -> list[int]:
    """The messages handed to the send task, which does not run."""
    pks: list[int] = []
    monkeypatch.setattr(sending, "async_task", lambda name, pk, **kw: pks.append(pk))
    return pks


@pytest.fixture
def paused(settings) -> ProviderAccount:
    settings.EMAIL_RETRY_AFTER_SECONDS = 60
    account = ProviderAccountFactory(kind="email", slug="mail-only", priority=1)
    breaker_mode_set(account=account, mode=BreakerMode.FORCED_OPEN, actor="ops")
    return account


def _waiting() -> int:
    message = order_mail()
    email_message_deliver(message_pk=message.pk)
    message.refresh_from_db()
    assert message.status == EmailStatus.QUEUED and message.defers == 1
    return message.pk


def test_two_wake_ups_enqueue_a_waiting_send_once(
    paused, enqueued, django_capture_on_commit_callbacks
) -> None:
    pk = _waiting()
    breaker_mode_set(account=paused, mode=BreakerMode.AUTO, actor="ops")
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            email_waiting_wake()
    assert enqueued == [pk]


def test_one_save_enabling_and_unpausing_enqueues_it_once(
    paused, enqueued, django_capture_on_commit_callbacks, admin_client
) -> None:
    ProviderAccount.objects.filter(pk=paused.pk).update(enabled=False)
    pk = _waiting()
    paused.refresh_from_db()
    data = {
        "kind": paused.kind,
        "provider": paused.provider,
        "slug": paused.slug,
        "display_name": paused.display_name,
        "priority": str(paused.priority),
        "enabled": "on",
        "mode": paused.mode,
        "breaker_mode": BreakerMode.AUTO,
        "setting__latency_ms": "0",
        "setting__error_rate": "0",
    }
    url = reverse("admin:integrations_provideraccount_change", args=[paused.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, data)
    assert response.status_code == 302, response.content
    assert enqueued == [pk]
