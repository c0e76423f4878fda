"""Postmark servers shared with another system: Postmark keeps a suppression
list per message stream, so an event naming no message of ours counts only
on one of our two streams (docs/providers/email.md, "Shared accounts").
Payloads are Postmark's documented SubscriptionChange and Bounce webhook
examples (tests/fixtures/postmark/events.json, test_postmark.py)."""

import pytest
from django.test import Client

from integrations.models import ProviderAccount, WebhookEvent
from integrations.webhooks.services import webhook_event_process
from notifications.models import Suppression
from notifications.services import email_message_create
from notifications.services.suppressions import suppression_blocks
from tests.factories import ProviderAccountFactory
from tests.notifications.contract.harness_postmark import (
    WEBHOOK_PASSWORD,
    WEBHOOK_USER,
    event,
    posted,
)
from tests.notifications.providers.test_postmark import DOCUMENTED_BOUNCE

pytestmark = pytest.mark.django_db

ORDER = {"order_id": "1001", "amount_display": "€10.50"}
THEIRS = "crm-newsletter"  # another system's stream on the same server


def _account(**settings: str) -> ProviderAccount:
    return ProviderAccountFactory(
        kind="email",
        provider="postmark",
        credentials={
            "server_token": "server-token",
            "webhook_username": WEBHOOK_USER,
            "webhook_password": WEBHOOK_PASSWORD,
        },
        settings=settings,
    )


def _processed(account: ProviderAccount, payload: dict) -> WebhookEvent:
    hook = posted(payload)
    response = Client().post(
        f"/webhooks/{account.slug}/",
        data=hook.body,
        content_type="application/json",
        headers={"Authorization": hook.headers["Authorization"]},
    )
    assert response.status_code == 200
    row = WebhookEvent.objects.get(account=account)
    assert webhook_event_process(event_id=row.pk) == "processed"
    row.refresh_from_db()
    return row


def _documented(**changes: object) -> dict:
    # Postmark's SubscriptionChange webhook example, as documented.
    return event("subscription_hard_bounce", Recipient="john@example.com", **changes)


# What another system's stream may report: the example as it stands (a hard
# bounce), a recipient's unsubscribe, and staff's stop in Postmark's UI or
# API (ManualSuppression of Origin Customer, MessageID null).
OTHER_SYSTEMS_CHANGES = [
    {},
    {"SuppressionReason": "ManualSuppression", "Origin": "Recipient"},
    {"SuppressionReason": "ManualSuppression", "Origin": "Customer", "MessageID": None},
    {"SuppressionReason": "SpamComplaint"},
]


@pytest.mark.parametrize("changes", OTHER_SYSTEMS_CHANGES)
def test_a_subscription_change_on_another_systems_stream_suppresses_nothing(
    changes,
) -> None:
    account = _account()
    row = _processed(account, _documented(MessageStream=THEIRS, **changes))
    assert row.note.startswith("ignored")
    assert not Suppression.objects.exists()
    assert suppression_blocks("john@example.com", "marketing") is None


def test_a_bounce_on_another_systems_stream_suppresses_nothing() -> None:
    account = _account()
    row = _processed(account, {**DOCUMENTED_BOUNCE, "MessageStream": THEIRS})
    assert row.note == (
        f"ignored: another system's mail on a shared account (message stream {THEIRS})"
    )
    assert not Suppression.objects.exists()


@pytest.mark.parametrize(
    ("stream", "blocks_orders"), [("outbound", True), ("broadcast", False)]
)
def test_a_stop_on_our_default_streams_still_counts(stream, blocks_orders) -> None:
    # Staff's stop: all mail on our transactional stream, marketing mail
    # only on our broadcast stream (Postmark's lists are per stream).
    account = _account()
    changes = OTHER_SYSTEMS_CHANGES[2]
    _processed(account, _documented(MessageStream=stream, **changes))
    assert suppression_blocks("john@example.com", "marketing") is not None
    blocked = suppression_blocks("john@example.com", "transactional") is not None
    assert blocked is blocks_orders


@pytest.mark.parametrize(
    ("stream", "suppressed"),
    [("shop-orders", True), ("shop-news", True), ("outbound", False)],
)
def test_our_streams_are_the_configured_ones(stream, suppressed) -> None:
    account = _account(message_stream="shop-orders", broadcast_stream="shop-news")
    row = _processed(account, _documented(MessageStream=stream))
    assert Suppression.objects.exists() is suppressed
    assert row.note.startswith("ignored") is not suppressed


def test_an_event_naming_our_message_counts_on_any_stream(
    email_accounts, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        message = email_message_create(
            to="john@example.com", template="order_confirmation", context=ORDER
        )
    account = _account()
    payload = _documented(
        MessageStream=THEIRS, Metadata={"message_id": message.public_id}
    )
    _processed(account, payload)
    assert Suppression.objects.get().reason == "hard_bounce"


def test_an_event_naming_no_stream_keeps_the_old_rule() -> None:
    # Records from before message streams carry no MessageStream: nothing
    # to judge them by, so they count as before.
    account = _account()
    payload = {k: v for k, v in DOCUMENTED_BOUNCE.items() if k != "MessageStream"}
    _processed(account, payload)
    assert Suppression.objects.get().reason == "hard_bounce"
