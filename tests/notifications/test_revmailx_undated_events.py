"""Mailgun and Postmark events whose own time is unreadable are read as
SendGrid's are (test_mailx_sendgrid_undated.py): one that stops its address
(a hard bounce, a complaint, an unsubscribe, a stop for the provider's list)
is applied dated when we received it, the row's note saying so; any other is
stored dead with its error for staff. Neither is marked processed having
applied nothing."""

from datetime import timedelta

import pytest
from django.test import Client

from integrations.models import ProviderAccount, WebhookEvent, WebhookStatus
from integrations.webhooks.services import webhook_event_process
from notifications.models import EmailEvent, EmailStatus, Suppression
from notifications.services import email_message_create
from tests.notifications.contract import harness_mailgun as mailgun
from tests.notifications.contract import harness_postmark as postmark

pytestmark = pytest.mark.django_db

UNREADABLE = ["yesterday", None, True, 10**15, [1]]
UNREADABLE_IDS = ["word", "null", "bool", "far-future", "list"]


def _mailgun_row(account: ProviderAccount, data: dict) -> WebhookEvent:
    hook = mailgun.signed(data)
    return _process(account, hook)


def _postmark_row(account: ProviderAccount, payload: dict) -> WebhookEvent:
    return _process(account, postmark.posted(payload))


def _process(account: ProviderAccount, hook) -> WebhookEvent:
    response = Client().generic(
        "POST", f"/webhooks/{account.slug}/", hook.body, **_meta(hook.headers)
    )
    assert response.status_code == 200, response.content
    (row,) = WebhookEvent.objects.filter(account=account)
    webhook_event_process(event_id=row.pk)
    row.refresh_from_db()
    return row


def _meta(headers: dict) -> dict:
    meta = {"content_type": headers.get("Content-Type", "application/json")}
    if "Authorization" in headers:
        meta["HTTP_AUTHORIZATION"] = headers["Authorization"]
    return meta


def _dated_when_received(row: WebhookEvent) -> None:
    assert row.status == WebhookStatus.PROCESSED, row.last_error
    assert "timestamp is unreadable" in row.note
    assert "when received" in row.note
    assert row.occurred_at is not None
    assert abs(row.occurred_at - row.received_at) < timedelta(seconds=5)


def _dead_for_staff(row: WebhookEvent) -> None:
    assert row.status == WebhookStatus.DEAD, row.status
    assert "time" in row.last_error
    assert not Suppression.objects.exists()


# Mailgun


@pytest.mark.parametrize("stamp", UNREADABLE, ids=UNREADABLE_IDS)
@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("failed_permanent", "hard_bounce"),
        ("complained", "complaint"),
        ("unsubscribed", "unsubscribe"),
        ("failed_suppressed", "hard_bounce"),
    ],
)
def test_mailgun_undated_stop_suppresses_its_address(name, reason, stamp) -> None:
    account = mailgun.make_account()
    data = mailgun.event(name, timestamp=stamp)
    row = _mailgun_row(account, data)
    _dated_when_received(row)
    suppression = Suppression.objects.get()
    assert suppression.address == data["recipient"]
    assert suppression.reason == reason
    assert abs(suppression.occurred_at - row.received_at) < timedelta(seconds=5)


def test_mailgun_missing_timestamp_is_read_the_same() -> None:
    account = mailgun.make_account()
    data = mailgun.event("complained")
    del data["timestamp"]
    row = _mailgun_row(account, data)
    _dated_when_received(row)
    assert "missing" in row.note
    assert Suppression.objects.get().reason == "complaint"


def test_mailgun_undated_complaint_on_our_message_is_applied_to_it() -> None:
    account = mailgun.make_account()
    message = email_message_create(
        to="recipient@example.com",
        template="order_confirmation",
        context={"order_id": "1001", "amount_display": "€10.50"},
        enqueue=False,
    )
    data = mailgun.event(
        "complained",
        timestamp="yesterday",
        **{"user-variables": {"message_id": message.public_id}},
    )
    row = _mailgun_row(account, data)
    _dated_when_received(row)
    assert '"yesterday"' in row.note
    message.refresh_from_db()
    assert message.status == EmailStatus.COMPLAINED
    recorded = EmailEvent.objects.get(message=message, type="complained")
    assert recorded.details["unreadable_timestamp"] == '"yesterday"'


@pytest.mark.parametrize("name", ["delivered", "opened", "clicked", "failed_temporary"])
def test_mailgun_other_undated_events_are_dead_with_their_error(name) -> None:
    account = mailgun.make_account()
    row = _mailgun_row(account, mailgun.event(name, timestamp="yesterday"))
    _dead_for_staff(row)


# Postmark


@pytest.mark.parametrize("stamp", UNREADABLE, ids=UNREADABLE_IDS)
@pytest.mark.parametrize(
    ("name", "field", "reason"),
    [
        ("bounce_hard", "BouncedAt", "hard_bounce"),
        ("spam_complaint", "BouncedAt", "complaint"),
        ("unsubscribe", "ChangedAt", None),
        ("subscription_hard_bounce", "ChangedAt", "hard_bounce"),
    ],
)
def test_postmark_undated_stop_suppresses_its_address(
    name, field, reason, stamp
) -> None:
    account = postmark.make_account()
    payload = postmark.event(name, **{field: stamp})
    row = _postmark_row(account, payload)
    _dated_when_received(row)
    suppression = Suppression.objects.get()
    address = payload.get("Email") or payload.get("Recipient")
    assert suppression.address == address
    if reason:
        assert suppression.reason == reason
    assert abs(suppression.occurred_at - row.received_at) < timedelta(seconds=5)


def test_postmark_missing_time_is_read_the_same() -> None:
    account = postmark.make_account()
    payload = postmark.event("spam_complaint")
    del payload["BouncedAt"]
    row = _postmark_row(account, payload)
    _dated_when_received(row)
    assert "missing" in row.note
    assert Suppression.objects.get().reason == "complaint"


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("delivery", "DeliveredAt"),
        ("open", "ReceivedAt"),
        ("click", "ReceivedAt"),
        ("bounce_soft", "BouncedAt"),
        ("bounce_transient", "BouncedAt"),
        ("resubscribe", "ChangedAt"),
    ],
)
def test_postmark_other_undated_events_are_dead_with_their_error(name, field) -> None:
    account = postmark.make_account()
    row = _postmark_row(account, postmark.event(name, **{field: "yesterday"}))
    _dead_for_staff(row)
