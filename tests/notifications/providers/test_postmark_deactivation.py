"""Addresses Postmark stops sending to, and lifts again. Postmark keeps a
suppression list per message stream and refuses a send to an address on the
stream's list (422 ErrorCode 406, inactive recipient): what puts an address
there (a recipient's unsubscribe, a bounce that leaves it ``Inactive``) stops
the same mail here, so a later message is stored as suppressed with its
reason instead of going out to be refused; a reactivation on that stream
(SubscriptionChange, SuppressSending false) lifts what the stream's stop put
here. Payloads: Postmark's documented webhook examples
(tests/fixtures/postmark/events.json, test_postmark.py's DOCUMENTED_BOUNCE)."""

import importlib

import pytest
from django.apps import apps as django_apps
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


def test_a_reactivation_lifts_a_stop_after_the_accounts_slug_changed(postmark) -> None:
    # The suppression names the account itself, not the slug in its source.
    _processed(postmark, documented_bounce("Blocked", Inactive=True))
    postmark.slug = "pm-renamed"
    postmark.save(update_fields=["slug"])
    _processed(postmark, _reactivation())
    assert suppression_active(ADDRESS) is None


def test_a_reactivation_lifts_the_same_stop_told_twice(postmark) -> None:
    # Postmark reports one hard bounce as a Bounce and a SubscriptionChange.
    _processed(postmark, {**DOCUMENTED_BOUNCE, "Metadata": {}})
    _processed(
        postmark,
        event("subscription_hard_bounce", Recipient=ADDRESS, Metadata={}),
    )
    _processed(postmark, _reactivation())
    assert suppression_active(ADDRESS) is None


# --- Order: webhooks arrive in any order; the provider's times decide -------------


def _stop(changed_at: str) -> dict:
    # Postmark's documented SubscriptionChange for a hard bounce.
    return event(
        "subscription_hard_bounce",
        Recipient=ADDRESS,
        Metadata={},
        ChangedAt=changed_at,
    )


@pytest.mark.parametrize("record", ["SubscriptionChange", "Bounce"])
def test_a_stale_stop_delivered_after_the_reactivation_is_ignored(
    postmark, record
) -> None:
    # Postmark: stop at 10:00, staff reactivate at 11:00; the retried 10:00
    # webhook lands after the 11:00 one. The address is active at Postmark.
    _processed(postmark, _reactivation(ChangedAt="2026-12-01T11:00:00Z"))
    if record == "Bounce":
        stale = {
            **DOCUMENTED_BOUNCE,
            "BouncedAt": "2026-12-01T10:00:00Z",
            "Metadata": {},
        }
    else:
        stale = _stop("2026-12-01T10:00:00Z")
    _processed(postmark, stale)
    assert suppression_active(ADDRESS) is None
    assert _order().status == EmailStatus.QUEUED


def test_a_stop_newer_than_the_reactivation_still_stops(postmark) -> None:
    _processed(postmark, _reactivation(ChangedAt="2026-12-01T11:00:00Z"))
    _processed(postmark, _stop("2026-12-01T12:00:00Z"))
    assert suppression_active(ADDRESS).reason == "hard_bounce"


def test_a_late_reactivation_keeps_a_newer_stop(postmark) -> None:
    # Stop 1 (10:00) -> reactivated (11:00) -> stop 2 (12:00, a new hard
    # bounce). The 11:00 reactivation delivered last lifts nothing: Postmark
    # still holds stop 2.
    newer = {
        **DOCUMENTED_BOUNCE,
        "BouncedAt": "2026-12-01T12:00:00Z",
        "ID": 2,
        "Metadata": {},
    }
    _processed(postmark, newer)
    _processed(postmark, _reactivation(ChangedAt="2026-12-01T11:00:00Z"))
    assert suppression_active(ADDRESS) is not None


# --- Other causes the lifted stop had absorbed ------------------------------------


def test_a_reactivation_keeps_another_accounts_complaint_it_absorbed(
    postmark,
) -> None:
    # Account pm hard-bounced the address; a second Postmark server then got
    # a spam complaint for it (as strong: pm's entry stays active). pm's
    # reactivation lifts its bounce; the other account's complaint stays.
    other = ProviderAccountFactory(
        kind="email",
        provider="postmark",
        slug="pm2",
        credentials={
            "server_token": "t2",
            "webhook_username": WEBHOOK_USER,
            "webhook_password": WEBHOOK_PASSWORD,
        },
    )
    _processed(postmark, {**DOCUMENTED_BOUNCE, "Metadata": {}})
    _processed(other, {**event("spam_complaint"), "Email": ADDRESS, "Metadata": {}})
    _processed(postmark, _reactivation())
    assert suppression_blocks(ADDRESS, "transactional").reason == "complaint"


def test_a_broadcast_reactivation_keeps_the_customers_own_opt_out_via_our_link(
    postmark,
) -> None:
    # Postmark's broadcast-stream unsubscribe comes first; the customer then
    # also opts out with our unsubscribe link. Postmark's staff reactivate
    # the address on the broadcast stream: our link's opt-out stays.
    from notifications.unsubscribe import unsubscribe_url

    _processed(postmark, event("unsubscribe", Metadata={}, MessageStream="broadcast"))
    assert Client().post(unsubscribe_url(ADDRESS)).status_code == 200
    _processed(postmark, _reactivation(MessageStream="broadcast"))
    kept = suppression_blocks(ADDRESS, "marketing")
    assert (kept.reason, kept.source) == ("unsubscribe", "link")


def test_a_reactivation_keeps_staffs_stop_added_after_postmarks(
    postmark, admin_client
) -> None:
    # Postmark deactivated the address; staff then stop it here themselves
    # (the admin says the entry there is kept).
    _processed(postmark, documented_bounce("Blocked", Inactive=True, Metadata={}))
    response = admin_client.post(
        "/admin/notifications/suppression/add/",
        {"address": ADDRESS, "reason": "manual", "source": ""},
    )
    assert response.status_code == 302
    _processed(postmark, _reactivation())
    kept = suppression_blocks(ADDRESS, "transactional")
    assert kept.reason == "manual" and kept.source.startswith("admin:")


# --- Reach: a reactivation lifts its own list's stops -----------------------------


def test_a_transactional_reactivation_keeps_a_broadcast_streams_hard_bounce(
    postmark,
) -> None:
    # The hard bounce happened on the broadcast stream: Postmark suppresses
    # the address on that list only, and the transactional list's
    # reactivation says nothing of it.
    _processed(
        postmark,
        {**DOCUMENTED_BOUNCE, "Metadata": {}, "MessageStream": "broadcast"},
    )
    _processed(postmark, _reactivation(MessageStream="outbound"))
    assert suppression_blocks(ADDRESS, "marketing") is not None


def test_the_documented_resubscribe_lifts_a_transactional_unsubscribe_stored_before(
    postmark,
) -> None:
    # The release before stored Postmark's transactional-stream unsubscribe
    # (ManualSuppression, Origin Recipient) as "unsubscribe". The recipient
    # resubscribes: Postmark's documented SubscriptionChange (SuppressSending
    # false, Origin Recipient, MessageStream outbound).
    old = _processed(postmark, event("unsubscribe", Metadata={}))
    rows = Suppression.objects.filter(source=f"webhook:pm:{old.pk}")
    rows.update(reason="unsubscribe")
    _processed(postmark, event("resubscribe"))
    assert suppression_active(ADDRESS) is None


@pytest.mark.parametrize(
    ("stop", "stream", "lifted"),
    [
        (event("unsubscribe", Metadata={}), "outbound", True),
        (event("unsubscribe", Metadata={}), "broadcast", True),
        ({**DOCUMENTED_BOUNCE, "Metadata": {}}, "outbound", True),
        ({**DOCUMENTED_BOUNCE, "Metadata": {}}, "broadcast", False),
    ],
)
def test_a_stop_stored_before_lists_were_kept_is_lifted_by_reach(
    postmark, stop, stream, lifted
) -> None:
    # Rows of the release before name no account, list or time (an
    # unsubscribe on any stream was "unsubscribe"): the source names the
    # account; the transactional list held any stop, the broadcast one only
    # stops of marketing mail.
    old = _processed(postmark, stop)
    row = Suppression.objects.get(source=f"webhook:pm:{old.pk}")
    legacy = "unsubscribe" if row.reason == "unsubscribe_all" else row.reason
    Suppression.objects.filter(pk=row.pk).update(
        reason=legacy, account=None, stream="", occurred_at=None
    )
    _processed(postmark, event("resubscribe", MessageStream=stream))
    assert (suppression_active(ADDRESS) is None) is lifted


def _legacy(row: Suppression) -> None:
    Suppression.objects.filter(pk=row.pk).update(
        account=None, stream="", occurred_at=None
    )


@pytest.mark.parametrize("ours", [False, True])
def test_the_migration_fills_stops_stored_before_from_their_events(
    postmark, email_accounts, django_capture_on_commit_callbacks, ours
) -> None:
    # Migration 0006: a row of the release before learns its account, list
    # and time from the webhook (or our message's event) that stored it.
    metadata = {}
    if ours:
        metadata = {
            "message_id": _sent_order(django_capture_on_commit_callbacks).public_id
        }
    payload = documented_bounce(
        "Blocked", Inactive=True, MessageStream="broadcast", Metadata=metadata
    )
    hook = _processed(postmark, payload)
    row = Suppression.objects.get()
    _legacy(row)
    migration = importlib.import_module(
        "notifications.migrations.0006_suppression_provider_origin"
    )
    migration.fill_provider_origin(django_apps, None)
    row.refresh_from_db()
    assert (row.account_id, row.stream) == (postmark.pk, "broadcast")
    assert row.occurred_at == hook.occurred_at


# --- One webhook per change (dedupe) ----------------------------------------------


def test_changes_on_two_streams_at_one_time_are_two_webhooks(postmark) -> None:
    # Postmark's lists are per stream: the broadcast and the transactional
    # stream's unsubscribe at one ChangedAt are two changes, not a replay.
    _processed(postmark, event("unsubscribe", Metadata={}, MessageStream="broadcast"))
    _processed(postmark, event("unsubscribe", Metadata={}))
    assert suppression_active(ADDRESS).reason == "unsubscribe_all"


def test_a_stop_and_its_reactivation_at_one_time_are_two_webhooks(postmark) -> None:
    at = "2026-12-01T10:00:00Z"
    _processed(postmark, event("unsubscribe", Metadata={}, ChangedAt=at))
    _processed(postmark, event("resubscribe", ChangedAt=at))  # same MessageID
    assert WebhookEvent.objects.filter(account=postmark).count() == 2
    assert suppression_active(ADDRESS) is None


@pytest.mark.parametrize(
    "stream", ["s" * 150, "outbound\x00x"], ids=["over-long", "with-nul"]
)
def test_a_stop_for_our_message_on_an_odd_stream_name_is_stored(
    postmark, email_accounts, django_capture_on_commit_callbacks, stream
) -> None:
    # The stream name is Postmark's (or a shared server's other system's):
    # longer than the column, or with a NUL PostgreSQL text refuses. The
    # event names our message, so the stop is ours; the webhook is processed.
    message = _sent_order(django_capture_on_commit_callbacks)
    _processed(
        postmark,
        event(
            "unsubscribe",
            Metadata={"message_id": message.public_id},
            MessageStream=stream,
        ),
    )
    (suppression,) = Suppression.objects.all()
    assert suppression.reason == "unsubscribe_all"
    assert len(suppression.stream) <= 100 and "\x00" not in suppression.stream


def test_a_stop_naming_no_message_on_an_over_long_foreign_stream_is_ignored(
    postmark,
) -> None:
    row = _processed(
        postmark, event("unsubscribe", Metadata={}, MessageStream="s" * 300)
    )
    assert row.status == "processed"
    assert not Suppression.objects.exists()
