"""A SendGrid event that stops its address (a hard bounce, a complaint, an
unsubscribe, a drop for SendGrid's list) with an unreadable ``timestamp``
still stops the address: it is dated when we received it, and the webhook
row's note says the timestamp was unreadable and what it was. Any other
event without a readable time is still stored dead with its error for staff
(test_mail4_sendgrid_timestamp.py): it could not be ordered against the
message's other events, and nothing waits on it."""

from datetime import timedelta

import pytest

from integrations.models import ProviderAccount, WebhookEvent, WebhookStatus
from notifications.models import EmailEvent, EmailStatus, Suppression
from notifications.services import email_message_create
from tests.notifications.contract.harness_sendgrid import event
from tests.notifications.sendgrid_hooks import (
    processed_rows,
    sendgrid_account,  # noqa: F401 (the ``sendgrid`` fixture)
    signed_post,
)

pytestmark = pytest.mark.django_db

UNREADABLE = ["yesterday", "1700000000", 1.7e9, None, True, 10**15, -(10**15), [1]]
UNREADABLE_IDS = [
    "word",
    "string",
    "float",
    "null",
    "bool",
    "far-future",
    "far-past",
    "list",
]


def _post(account: ProviderAccount, events: object):
    response = signed_post(account, events)
    assert response.status_code == 200
    return response


def _only(account: ProviderAccount, events: list) -> WebhookEvent:
    _post(account, events)
    (row,) = processed_rows(account)
    return row


def _dated_when_received(row: WebhookEvent) -> None:
    assert row.status == WebhookStatus.PROCESSED, row.last_error
    assert "timestamp" in row.note
    assert "when received" in row.note
    assert row.occurred_at is not None
    assert abs(row.occurred_at - row.received_at) < timedelta(seconds=5)


@pytest.mark.parametrize("stamp", UNREADABLE, ids=UNREADABLE_IDS)
@pytest.mark.parametrize("name", ["spamreport", "bounce"])
def test_an_undated_bounce_or_complaint_suppresses_its_address(
    sendgrid, name, stamp
) -> None:
    stop = event(name, timestamp=stamp)
    row = _only(sendgrid, [stop])
    _dated_when_received(row)
    suppression = Suppression.objects.get()
    assert suppression.address == stop["email"]
    assert suppression.reason == (
        "complaint" if name == "spamreport" else "hard_bounce"
    )
    # The origin's time is when we received it, not a time we made up.
    assert abs(suppression.occurred_at - row.received_at) < timedelta(seconds=5)


def test_a_missing_timestamp_is_read_the_same(sendgrid) -> None:
    complaint = event("spamreport")
    del complaint["timestamp"]
    row = _only(sendgrid, [complaint])
    _dated_when_received(row)
    assert "missing" in row.note
    assert Suppression.objects.get().address == complaint["email"]


@pytest.mark.parametrize(
    ("name", "changes", "reason"),
    [
        ("unsubscribe", {}, "unsubscribe"),
        ("group_unsubscribe", {}, "unsubscribe"),
        ("dropped", {"reason": "Bounced Address", "email": "ada@example.com"}, None),
    ],
    ids=["unsubscribe", "group-unsubscribe", "dropped-listed"],
)
def test_other_stops_of_the_address_count_too(sendgrid, name, changes, reason) -> None:
    stop = event(name, timestamp="soon", **changes)
    row = _only(sendgrid, [stop])
    _dated_when_received(row)
    suppression = Suppression.objects.get()
    assert suppression.address == stop["email"]
    assert suppression.reason == (reason or "hard_bounce")


def test_the_note_shows_the_unreadable_value(sendgrid) -> None:
    row = _only(sendgrid, [event("spamreport", timestamp="yesterday")])
    assert '"yesterday"' in row.note


def test_an_undated_complaint_on_our_message_is_applied_to_it(sendgrid) -> None:
    message = email_message_create(
        to="recipient@example.com",
        template="order_confirmation",
        context={"order_id": "1001", "amount_display": "€10.50"},
        enqueue=False,
    )
    complaint = event("spamreport", timestamp="yesterday", message_id=message.public_id)
    row = _only(sendgrid, [complaint])
    _dated_when_received(row)
    message.refresh_from_db()
    assert message.status == EmailStatus.COMPLAINED
    recorded = EmailEvent.objects.get(message=message, type="complained")
    assert recorded.occurred_at == row.occurred_at
    assert recorded.details["unreadable_timestamp"] == '"yesterday"'
    assert Suppression.objects.get().address == "recipient@example.com"


def test_a_redelivered_batch_stores_it_once(sendgrid) -> None:
    complaint = event("spamreport", timestamp="yesterday")
    _post(sendgrid, [complaint])
    _post(sendgrid, [complaint])
    assert WebhookEvent.objects.filter(account=sendgrid).count() == 1


@pytest.mark.parametrize(
    "undated",
    [
        event("delivered", timestamp="yesterday"),
        event("open", timestamp="yesterday"),
        # "blocked": refused for now, nothing to suppress.
        event("blocked", timestamp="yesterday"),
        event("dropped", timestamp="yesterday", reason="Invalid"),
        # A stop naming no address: nothing it could stop.
        event("spamreport", timestamp="yesterday", email=""),
    ],
    ids=["delivered", "open", "soft-bounce", "dropped-invalid", "no-address"],
)
def test_other_undated_events_stay_dead_for_staff(sendgrid, undated) -> None:
    row = _only(sendgrid, [undated])
    assert row.status == WebhookStatus.DEAD
    assert "timestamp" in row.last_error
    assert not Suppression.objects.exists()
