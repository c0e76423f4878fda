"""Addresses Postmark stops sending to, and lifts again. Postmark keeps a
suppression list per message stream and refuses a send to an address on the
stream's list (422 ErrorCode 406, inactive recipient): what puts an address
there (a recipient's unsubscribe, a bounce that leaves it ``Inactive``) stops
the same mail here, so a later message is stored as suppressed with its
reason instead of going out to be refused; a reactivation on that stream
(SubscriptionChange, SuppressSending false) lifts what the stream's stop put
here. Payloads: Postmark's documented webhook examples
(tests/fixtures/postmark/events.json, test_postmark.py's DOCUMENTED_BOUNCE)."""

import pytest
from django.test import Client

from integrations.models import ProviderAccount, WebhookEvent
from integrations.registry import get_adapter
from integrations.webhooks.messages import WebhookMessage
from integrations.webhooks.services import webhook_event_process
from notifications.models import EmailMessage, EmailStatus, Suppression
from notifications.providers.base import EmailEventType
from notifications.services import email_message_create
from notifications.services.sending import email_message_deliver
from notifications.services.suppressions import (
    suppression_active,
    suppression_add,
    suppression_blocks,
)
from tests.factories import ProviderAccountFactory
from tests.notifications.contract.harness_postmark import (
    WEBHOOK_PASSWORD,
    WEBHOOK_USER,
    event,
    posted,
)
from tests.notifications.providers.test_postmark import (
    DOCUMENTED_BOUNCE,
    documented_bounce,
)

pytestmark = pytest.mark.django_db

ORDER = {"order_id": "1001", "amount_display": "€10.50"}
NEWS = {"headline": "Spring", "body": "New stock"}
ADDRESS = "john@example.com"


@pytest.fixture
def postmark() -> ProviderAccount:
    return ProviderAccountFactory(
        kind="email",
        provider="postmark",
        slug="pm",
        credentials={
            "server_token": "server-token",
            "webhook_username": WEBHOOK_USER,
            "webhook_password": WEBHOOK_PASSWORD,
        },
    )


def _processed(account: ProviderAccount, payload: dict) -> WebhookEvent:
    hook = posted(payload)
    before = set(WebhookEvent.objects.values_list("pk", flat=True))
    response = Client().post(
        f"/webhooks/{account.slug}/",
        data=hook.body,
        content_type="application/json",
        headers={"Authorization": hook.headers["Authorization"]},
    )
    assert response.status_code == 200
    row = WebhookEvent.objects.exclude(pk__in=before).get(account=account)
    assert webhook_event_process(event_id=row.pk) == "processed"
    row.refresh_from_db()
    return row


def _order() -> EmailMessage:
    return email_message_create(
        to=ADDRESS, template="order_confirmation", context=ORDER
    )


def _news() -> EmailMessage:
    return email_message_create(
        to=ADDRESS, template="newsletter", category="marketing", context=NEWS
    )


def _skipped_because(message: EmailMessage) -> str:
    assert message.status == EmailStatus.SUPPRESSED
    return message.events.get(type=EmailStatus.SUPPRESSED).details["suppression"]


def _sent_order(django_capture_on_commit_callbacks) -> EmailMessage:
    with django_capture_on_commit_callbacks(execute=True):
        message = _order()
    message.refresh_from_db()
    assert message.status == EmailStatus.SENT
    return message


# --- A recipient's unsubscribe ---------------------------------------------------


def test_an_unsubscribe_on_the_transactional_stream_stops_order_mail(
    postmark, email_accounts, django_capture_on_commit_callbacks
) -> None:
    # Postmark now refuses every message on its transactional stream to the
    # address: the next order confirmation is stored, skipped, and says why.
    message = _sent_order(django_capture_on_commit_callbacks)
    _processed(
        postmark, event("unsubscribe", Metadata={"message_id": message.public_id})
    )
    assert Suppression.objects.get().reason == "unsubscribe_all"
    assert _skipped_because(_order()) == "Unsubscribed from all mail"
    assert _skipped_because(_news()) == "Unsubscribed from all mail"


def test_an_unsubscribe_naming_no_message_of_ours_stops_order_mail(postmark) -> None:
    row = _processed(postmark, event("unsubscribe", Metadata={}))
    (suppression,) = Suppression.objects.all()
    assert (suppression.reason, suppression.source) == (
        "unsubscribe_all",
        f"webhook:{postmark.slug}:{row.pk}",
    )
    assert suppression_blocks(ADDRESS, "transactional") is not None


def test_a_queued_order_mail_is_not_sent_after_the_unsubscribe(
    postmark, email_accounts, django_capture_on_commit_callbacks
) -> None:
    queued = email_message_create(
        to=ADDRESS, template="order_confirmation", context=ORDER, enqueue=False
    )
    _processed(postmark, event("unsubscribe", Metadata={}))
    assert email_message_deliver(message_pk=queued.pk) == EmailStatus.SUPPRESSED
    queued.refresh_from_db()
    assert _skipped_because(queued) == "Unsubscribed from all mail"


def test_an_unsubscribe_on_the_broadcast_stream_stops_marketing_mail_only(
    postmark,
) -> None:
    _processed(postmark, event("unsubscribe", Metadata={}, MessageStream="broadcast"))
    assert Suppression.objects.get().reason == "unsubscribe"
    assert _order().status == EmailStatus.QUEUED
    assert _skipped_because(_news()) == "Unsubscribed"


# --- Bounces that leave the address Inactive --------------------------------------


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("Blocked", EmailStatus.FAILED),
        ("DMARCPolicy", EmailStatus.FAILED),
        ("VirusNotification", EmailStatus.FAILED),
        ("SpamNotification", EmailStatus.SENT),
        ("Unknown", EmailStatus.DEFERRED),
    ],
)
def test_a_bounce_postmark_deactivated_the_address_for_stops_all_mail(
    postmark, email_accounts, django_capture_on_commit_callbacks, kind, status
) -> None:
    message = _sent_order(django_capture_on_commit_callbacks)
    payload = documented_bounce(
        kind, Inactive=True, Metadata={"message_id": message.public_id}
    )
    _processed(postmark, payload)
    message.refresh_from_db()
    assert message.status == status  # what the bounce says of this message
    assert Suppression.objects.get().reason == "deactivated"
    assert _skipped_because(_order()) == "Deactivated at the provider"


def test_an_inactive_bounce_naming_no_message_suppresses_the_address(
    postmark,
) -> None:
    row = _processed(postmark, documented_bounce("Blocked", Inactive=True))
    (suppression,) = Suppression.objects.all()
    assert (suppression.reason, suppression.source) == (
        "deactivated",
        f"webhook:{postmark.slug}:{row.pk}",
    )


def test_an_inactive_bounce_on_the_broadcast_stream_stops_marketing_mail_only(
    postmark,
) -> None:
    payload = documented_bounce("Blocked", Inactive=True, MessageStream="broadcast")
    _processed(postmark, payload)
    assert Suppression.objects.get().reason == "unsubscribe"
    assert suppression_blocks(ADDRESS, "transactional") is None


@pytest.mark.parametrize("can_activate", [True, False])
def test_an_active_address_after_the_bounce_is_not_suppressed(
    postmark, can_activate
) -> None:
    payload = documented_bounce("Blocked", Inactive=False, CanActivate=can_activate)
    _processed(postmark, payload)
    assert not Suppression.objects.exists()


# --- Reactivation (SubscriptionChange, SuppressSending false) ---------------------


def _reactivation(**changes) -> dict:
    # Postmark's page: MessageID null for reactivations, SuppressionReason
    # null, Metadata empty.
    return event("resubscribe", MessageID=None, Origin="Customer", **changes)


@pytest.mark.parametrize(
    "stop",
    [
        documented_bounce("Blocked", Inactive=True),
        {**DOCUMENTED_BOUNCE, "Metadata": {}},
        event("unsubscribe", Metadata={}),
        event("subscription_hard_bounce", Recipient=ADDRESS, Metadata={}),
    ],
)
def test_a_reactivation_lifts_the_streams_stop(postmark, stop) -> None:
    _processed(postmark, stop)
    assert suppression_blocks(ADDRESS, "transactional") is not None
    row = _processed(postmark, _reactivation())
    assert suppression_active(ADDRESS) is None
    lifted = Suppression.objects.get()
    assert lifted.removed_reason == f"reactivated at the provider (webhook:pm:{row.pk})"
    assert row.note == "address reactivated; the provider's suppression lifted"
    assert _order().status == EmailStatus.QUEUED


def test_a_reactivation_lifts_a_stop_that_named_our_message(
    postmark, email_accounts, django_capture_on_commit_callbacks
) -> None:
    message = _sent_order(django_capture_on_commit_callbacks)
    payload = documented_bounce(
        "Blocked", Inactive=True, Metadata={"message_id": message.public_id}
    )
    _processed(postmark, payload)
    assert Suppression.objects.get().source == message.public_id
    _processed(postmark, _reactivation())
    assert suppression_active(ADDRESS) is None


def test_a_reactivation_keeps_the_customers_earlier_opt_out(postmark) -> None:
    # They had unsubscribed from marketing mail with our link; the stop on
    # the transactional stream replaced that entry, and lifting it restores it.
    suppression_add(address=ADDRESS, reason="unsubscribe", source="link")
    _processed(postmark, event("unsubscribe", Metadata={}))
    _processed(postmark, _reactivation())
    assert suppression_active(ADDRESS).reason == "unsubscribe"
    assert _order().status == EmailStatus.QUEUED


@pytest.mark.parametrize("source", ["link", "admin:boss", "webhook:other:1"])
def test_a_reactivation_lifts_nothing_it_did_not_cause(postmark, source) -> None:
    # Our own unsubscribe link, staff's entry here, another account's event.
    reason = "unsubscribe" if source == "link" else "manual"
    suppression_add(address=ADDRESS, reason=reason, source=source)
    stream = "broadcast" if reason == "unsubscribe" else "outbound"
    row = _processed(postmark, _reactivation(MessageStream=stream))
    assert suppression_active(ADDRESS).source == source
    assert row.note == ""


def test_a_reactivation_on_the_other_stream_lifts_nothing(postmark) -> None:
    # Postmark's lists are per stream: the broadcast list's reactivation says
    # nothing of the transactional stream's stop.
    _processed(postmark, documented_bounce("Blocked", Inactive=True))
    _processed(postmark, _reactivation(MessageStream="broadcast"))
    assert suppression_active(ADDRESS).reason == "deactivated"


def test_a_reactivation_on_another_systems_stream_lifts_nothing(postmark) -> None:
    _processed(postmark, documented_bounce("Blocked", Inactive=True))
    row = _processed(postmark, _reactivation(MessageStream="crm-newsletter"))
    assert row.note.startswith("ignored")
    assert suppression_active(ADDRESS).reason == "deactivated"


@pytest.mark.parametrize(
    ("stream", "reach"), [("outbound", ""), ("broadcast", "unsubscribe")]
)
def test_a_reactivation_is_recorded_with_the_reach_of_its_list(
    postmark, stream, reach
) -> None:
    payload = _reactivation(MessageStream=stream)
    message = WebhookMessage.build(
        event_type="SubscriptionChange", dedupe_key="k", payload=payload
    )
    (record,) = get_adapter(postmark).parse_email_events(message)
    assert (record.type, record.recipient) == (EmailEventType.REACTIVATED, ADDRESS)
    assert (record.provider_message_id, record.suppressed_for) == ("", reach)
