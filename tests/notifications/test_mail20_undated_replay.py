"""Mailgun and Postmark rows stored before events were stamped with their
receive time (an unreadable provider time left ``occurred_at`` empty, and
the row went dead): staff's replay of one that stops its address applies it,
dated when the row was received (its stored ``received_at``), not left dead
again for want of a time, nor dated at the replay. Any other undated event
stays dead with its error, as at intake (test_revmailx_undated_events)."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from integrations.models import ProviderAccount, WebhookEvent, WebhookStatus
from integrations.webhooks.services import webhook_event_process, webhook_events_replay
from notifications.models import EmailEvent, EmailStatus, Suppression
from notifications.services import email_message_create
from tests.notifications.contract import harness_mailgun as mailgun
from tests.notifications.contract import harness_postmark as postmark

pytestmark = pytest.mark.django_db

RECEIVED_DAYS_AGO = 3


def _meta(headers: dict) -> dict:
    meta = {"content_type": headers.get("Content-Type", "application/json")}
    if "Authorization" in headers:
        meta["HTTP_AUTHORIZATION"] = headers["Authorization"]
    return meta


def _old_row(account: ProviderAccount, hook) -> WebhookEvent:
    """The row as the release before receive-time stamping left it: no
    ``occurred_at``, dead with its error, received days ago."""
    response = Client().generic(
        "POST", f"/webhooks/{account.slug}/", hook.body, **_meta(hook.headers)
    )
    assert response.status_code == 200, response.content
    (row,) = WebhookEvent.objects.filter(account=account)
    WebhookEvent.objects.filter(pk=row.pk).update(
        occurred_at=None,
        status=WebhookStatus.DEAD,
        last_error="email event unreadable: UndatedEvent: no readable time",
        received_at=timezone.now() - timedelta(days=RECEIVED_DAYS_AGO),
    )
    row.refresh_from_db()
    return row


def _replayed(row: WebhookEvent) -> WebhookEvent:
    assert webhook_events_replay(event_ids=[row.pk]) == 1
    webhook_event_process(event_id=row.pk)
    row.refresh_from_db()
    return row


def _dated_when_received(row: WebhookEvent) -> None:
    assert row.status == WebhookStatus.PROCESSED, row.last_error
    assert "when received" in row.note


@pytest.mark.parametrize(
    ("name", "reason"),
    [("failed_permanent", "hard_bounce"), ("complained", "complaint")],
)
def test_an_old_undated_mailgun_stop_is_applied_on_replay(name, reason) -> None:
    account = mailgun.make_account()
    data = mailgun.event(name, timestamp="yesterday")
    row = _old_row(account, mailgun.signed(data))
    received_at = row.received_at
    row = _replayed(row)
    _dated_when_received(row)
    suppression = Suppression.objects.get()
    assert suppression.address == data["recipient"]
    assert suppression.reason == reason
    # Dated when the row came in, not when staff replayed it.
    assert suppression.occurred_at == received_at


def test_an_old_undated_mailgun_complaint_dates_its_message_event() -> None:
    account = mailgun.make_account()
    message = email_message_create(
        to="recipient@example.com",
        template="order_confirmation",
        context={"order_id": "1001", "amount_display": "€10.50"},
        enqueue=False,
    )
    data = mailgun.event(
        "complained",
        **{"user-variables": {"message_id": message.public_id}},
    )
    del data["timestamp"]
    row = _old_row(account, mailgun.signed(data))
    received_at = row.received_at
    _dated_when_received(_replayed(row))
    message.refresh_from_db()
    assert message.status == EmailStatus.COMPLAINED
    recorded = EmailEvent.objects.get(message=message, type="complained")
    assert recorded.occurred_at == received_at


@pytest.mark.parametrize(
    ("name", "field", "reason"),
    [
        ("bounce_hard", "BouncedAt", "hard_bounce"),
        ("spam_complaint", "BouncedAt", "complaint"),
        ("subscription_hard_bounce", "ChangedAt", "hard_bounce"),
    ],
)
def test_an_old_undated_postmark_stop_is_applied_on_replay(name, field, reason) -> None:
    account = postmark.make_account()
    payload = postmark.event(name, **{field: "yesterday"})
    row = _old_row(account, postmark.posted(payload))
    received_at = row.received_at
    _dated_when_received(_replayed(row))
    suppression = Suppression.objects.get()
    assert suppression.address == (payload.get("Email") or payload.get("Recipient"))
    assert suppression.reason == reason
    assert suppression.occurred_at == received_at


@pytest.mark.parametrize("name", ["delivered", "opened", "failed_temporary"])
def test_an_old_undated_mailgun_event_stopping_nothing_stays_dead(name) -> None:
    account = mailgun.make_account()
    row = _old_row(account, mailgun.signed(mailgun.event(name, timestamp="yesterday")))
    row = _replayed(row)
    assert row.status == WebhookStatus.DEAD
    assert "time" in row.last_error
    assert not EmailEvent.objects.exists()


@pytest.mark.parametrize(
    ("name", "field"), [("delivery", "DeliveredAt"), ("bounce_soft", "BouncedAt")]
)
def test_an_old_undated_postmark_event_stopping_nothing_stays_dead(name, field) -> None:
    account = postmark.make_account()
    row = _old_row(account, postmark.posted(postmark.event(name, **{field: None})))
    row = _replayed(row)
    assert row.status == WebhookStatus.DEAD
    assert "time" in row.last_error
    assert not Suppression.objects.exists()
