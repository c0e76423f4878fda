"""A single send met only by paused accounts (staff forced the breaker open)
waits, its attempt given back. Before, the sweeper tried it again every
EMAIL_RETRY_AFTER_SECONDS for as long as the pause lasted; now each further
wait doubles, from EMAIL_RETRY_AFTER_SECONDS up to BATCH_DEFER_MAX_SECONDS,
by the database's clock, as a bulk row waiting alone does, and a real
attempt starts the next pause at the first wait again. Staff and the
storefront see it queued (waiting) with its next try."""

from datetime import timedelta

import pytest

from integrations.breaker import breaker_mode_set
from integrations.clock import database_now
from integrations.errors import NotProcessed
from integrations.models.accounts import BreakerMode
from notifications.models import EmailMessage, EmailStatus, SandboxEmail
from notifications.providers.outcomes import unsupported_message
from notifications.providers.sandbox import SandboxEmailAdapter
from notifications.services import email_messages_sweep
from notifications.services.sending import email_message_deliver
from tests.notifications.sends import accounts_answer, order_mail
from tests.notifications.waiting import stored_mail

pytestmark = pytest.mark.django_db


def _wait(message: EmailMessage) -> float:
    """Seconds from now (the database's clock) to the message's next try."""
    message.refresh_from_db()
    assert message.retry_at is not None
    return (message.retry_at - database_now()).total_seconds()


def _sweep_when_due(message: EmailMessage) -> int:
    """Run the sweep the moment the message's wait is over; how many it
    enqueued."""
    return email_messages_sweep(now=message.retry_at + timedelta(seconds=1))["requeued"]


def test_each_further_wait_of_a_waiting_message_doubles_up_to_the_cap(
    paused, django_capture_on_commit_callbacks
) -> None:
    message = stored_mail(django_capture_on_commit_callbacks)
    seen = [_wait(message)]
    for _ in range(6):
        # Not tried again before its wait is over, however often swept.
        early = message.retry_at - timedelta(seconds=5)
        assert email_messages_sweep(now=early)["requeued"] == 0
        assert _sweep_when_due(message) == 1
        seen.append(_wait(message))
    assert [round(w, -1) for w in seen] == [60, 120, 240, 480, 960, 1800, 1800]
    message.refresh_from_db()
    assert (message.status, message.attempts) == (EmailStatus.QUEUED, 0)
    # One "retry" event for the pause, not one a try.
    assert list(message.events.values_list("type", flat=True)) == ["queued", "retry"]


def test_a_real_attempt_starts_the_next_pause_at_the_first_wait(
    paused, django_capture_on_commit_callbacks, monkeypatch
) -> None:
    message = stored_mail(django_capture_on_commit_callbacks)
    for _ in range(3):
        _sweep_when_due(message)
        message.refresh_from_db()
    assert round(_wait(message), -1) == 480

    # The pause ends, and the provider asked fails for a while (spent).
    breaker_mode_set(account=paused, mode=BreakerMode.AUTO, actor="ops")

    def unavailable(self, outbound, **kwargs):
        raise NotProcessed("service unavailable", code="service_unavailable")

    monkeypatch.setattr(SandboxEmailAdapter, "deliver", unavailable)
    _sweep_when_due(message)
    message.refresh_from_db()
    assert (message.status, message.attempts, message.retry_at) == (
        EmailStatus.QUEUED,
        1,
        None,
    )

    # Paused again: its first wait, not the longest one reached before.
    breaker_mode_set(account=paused, mode=BreakerMode.FORCED_OPEN, actor="ops")
    email_messages_sweep(now=message.updated_at + timedelta(seconds=61))
    assert round(_wait(message), -1) == 60
    message.refresh_from_db()
    assert (message.status, message.attempts) == (EmailStatus.QUEUED, 1)


def test_it_is_sent_on_its_next_try_once_the_account_is_back(
    paused, django_capture_on_commit_callbacks
) -> None:
    message = stored_mail(django_capture_on_commit_callbacks)
    _sweep_when_due(message)
    message.refresh_from_db()
    breaker_mode_set(account=paused, mode=BreakerMode.AUTO, actor="ops")
    assert _sweep_when_due(message) == 1
    message.refresh_from_db()
    assert (message.status, message.attempts) == (EmailStatus.SENT, 1)
    assert message.retry_at is None
    assert SandboxEmail.objects.count() == 1


def test_the_storefront_and_staff_see_it_waiting_with_its_next_try(
    paused, django_capture_on_commit_callbacks, email_reader, admin_client
) -> None:
    message = stored_mail(django_capture_on_commit_callbacks)
    _sweep_when_due(message)
    message.refresh_from_db()

    body = email_reader.get(f"/api/v1/notifications/emails/{message.public_id}/").json()
    assert body["status"] == EmailStatus.QUEUED
    assert body["last_error"].startswith("No email provider could take the message")
    assert body["next_try_at"].startswith(
        message.retry_at.strftime("%Y-%m-%dT%H:%M:%S")
    )

    page = admin_client.get(f"/admin/notifications/emailmessage/{message.pk}/change/")
    assert page.status_code == 200
    assert b"waiting, next try at " in page.content


def test_no_next_try_once_nothing_waits(
    email_accounts, django_capture_on_commit_callbacks, email_reader
) -> None:
    message = stored_mail(django_capture_on_commit_callbacks)
    assert message.status == EmailStatus.SENT
    body = email_reader.get(f"/api/v1/notifications/emails/{message.public_id}/").json()
    assert body["next_try_at"] is None


def test_a_message_refused_everywhere_has_no_next_try(
    email_accounts, monkeypatch, email_reader
) -> None:
    """Every account refused it for good: failed at once, nothing to wait
    for (no next try, no wait counted)."""
    accounts_answer(
        monkeypatch,
        {a.slug: lambda: unsupported_message("no SMTPUTF8") for a in email_accounts},
    )
    message = order_mail()
    assert email_message_deliver(message_pk=message.pk) == EmailStatus.FAILED
    message.refresh_from_db()
    assert (message.retry_at, message.defers) == (None, 0)
    body = email_reader.get(f"/api/v1/notifications/emails/{message.public_id}/")
    assert body.json()["next_try_at"] is None
