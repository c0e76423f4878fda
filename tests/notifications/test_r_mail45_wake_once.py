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
from notifications.services import email_waiting_wake
from notifications.services.sending import email_message_deliver
from tests.integrations.account_forms import account_change_data
from tests.notifications.sends import order_mail

pytestmark = pytest.mark.django_db


def _waiting() -> int:
    message = order_mail()
    email_message_deliver(message_pk=message.pk)
    message.refresh_from_db()
    assert message.status == EmailStatus.QUEUED and message.defers == 1
    return message.pk


def test_two_wake_ups_enqueue_a_waiting_send_once(
    paused, sends_enqueued, django_capture_on_commit_callbacks
) -> None:
    pk = _waiting()
    breaker_mode_set(account=paused, mode=BreakerMode.AUTO, actor="ops")
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            email_waiting_wake()
    assert sends_enqueued == [pk]


def test_one_save_enabling_and_unpausing_enqueues_it_once(
    paused, sends_enqueued, django_capture_on_commit_callbacks, admin_client
) -> None:
    ProviderAccount.objects.filter(pk=paused.pk).update(enabled=False)
    pk = _waiting()
    paused.refresh_from_db()
    data = account_change_data(paused, breaker_mode=BreakerMode.AUTO)
    url = reverse("admin:integrations_provideraccount_change", args=[paused.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, data)
    assert response.status_code == 302, response.content
    assert sends_enqueued == [pk]
