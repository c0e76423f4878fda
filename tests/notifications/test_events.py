"""Delivery events applied to messages: through the real webhook intake (the
sandbox's own signed webhooks), by precedence, with suppressions and outbox
events."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from integrations.models import Event, WebhookEvent
from integrations.providers import sandbox_webhooks
from integrations.registry import get_adapter
from integrations.webhooks.messages import WebhookMessage
from notifications.models import EmailEvent, EmailMessage, EmailStatus, Suppression
from notifications.services import email_message_create
from notifications.services.events import email_event_apply
from notifications.webhooks import email_webhook_handle
from tests.contract.sandbox import SECRET
from tests.factories import ProviderAccountFactory, WebhookEventFactory
from tests.notifications.contract.harness_mailgun import event as mailgun_event
from tests.notifications.contract.harness_sendgrid import event as sendgrid_event

pytestmark = pytest.mark.django_db
ORDER = {"order_id": "1001", "amount_display": "€10.50"}


@pytest.fixture
def sent(email_accounts, django_capture_on_commit_callbacks) -> EmailMessage:
    with django_capture_on_commit_callbacks(execute=True):
        message = email_message_create(
            to="ada@example.com", template="order_confirmation", context=ORDER
        )
    message.refresh_from_db()
    assert message.status == EmailStatus.SENT
    return message


def _post(capture, message, event, *, at, bounce="", webhook_id=None):
    data = {
        "provider_message_id": message.provider_message_id,
        "message_id": "",
        "recipient": message.to_email,
        "bounce_type": bounce,
        "occurred_at": at.isoformat(),
    }
    body = sandbox_webhooks.webhook_body(f"email.{event}", data)
    headers = sandbox_webhooks.webhook_headers(
        secret=SECRET, webhook_id=webhook_id or f"msg_{event}_{at:%H%M%S}", body=body
    )
    wsgi = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    wsgi.pop("HTTP_CONTENT_TYPE")
    with capture(execute=True):
        response = Client().post(
            f"/webhooks/{message.account.slug}/",
            data=body,
            content_type="application/json",
            **wsgi,
        )
    assert response.status_code == 200, response.content
    message.refresh_from_db()
    return response


def test_hard_bounce_suppresses_and_announces(
    sent, django_capture_on_commit_callbacks
) -> None:
    now = datetime.now(UTC)
    _post(django_capture_on_commit_callbacks, sent, "bounced", at=now, bounce="hard")
    assert sent.status == EmailStatus.BOUNCED
    suppression = Suppression.objects.get(address="ada@example.com")
    assert suppression.reason == "hard_bounce"
    assert suppression.source == sent.public_id
    event = Event.objects.get(name="email.bounced")
    assert event.payload["message_id"] == sent.public_id
    assert WebhookEvent.objects.get().status == "processed"


def test_soft_bounce_defers_without_suppressing(
    sent, django_capture_on_commit_callbacks
) -> None:
    now = datetime.now(UTC)
    _post(django_capture_on_commit_callbacks, sent, "bounced", at=now, bounce="soft")
    assert sent.status == EmailStatus.DEFERRED
    assert not Suppression.objects.exists()


def test_out_of_order_events_keep_the_highest(
    sent, django_capture_on_commit_callbacks
) -> None:
    now = datetime.now(UTC)
    capture = django_capture_on_commit_callbacks
    _post(capture, sent, "delivered", at=now)
    _post(capture, sent, "deferred", at=now - timedelta(minutes=5))
    assert sent.status == EmailStatus.DELIVERED
    assert Event.objects.filter(name="email.delivered").count() == 1
    _post(capture, sent, "complained", at=now + timedelta(minutes=1))
    assert sent.status == EmailStatus.COMPLAINED
    assert Suppression.objects.get().reason == "complaint"
    types = [e.type for e in sent.events.order_by("occurred_at", "pk")]
    assert types.count("delivered") == 1 and "deferred" in types


def test_duplicate_webhook_is_applied_once(
    sent, django_capture_on_commit_callbacks
) -> None:
    now = datetime.now(UTC)
    capture = django_capture_on_commit_callbacks
    _post(capture, sent, "delivered", at=now, webhook_id="msg_same")
    again = _post(capture, sent, "delivered", at=now, webhook_id="msg_same")
    assert json.loads(again.content).get("duplicate") in (True, None)
    assert EmailEvent.objects.filter(message=sent, type="delivered").count() == 1
    assert Event.objects.filter(name="email.delivered").count() == 1


def test_sandbox_announces_what_it_did(
    email_accounts, django_capture_on_commit_callbacks, settings, live_server
) -> None:
    # The sandbox's own delivery task posts a signed bounce to the intake.
    settings.SANDBOX_WEBHOOK_BASE_URL = live_server.url
    settings.SANDBOX_WEBHOOK_DELAY_SECONDS = 0
    with django_capture_on_commit_callbacks(execute=True):
        message = email_message_create(
            to="bounce@example.com", template="order_confirmation", context=ORDER
        )
    stored = WebhookEvent.objects.get(event_type="email.bounced")
    assert stored.payload["data"]["message_id"] == message.public_id
    # Processed again (a replay) changes nothing.
    email_webhook_handle(stored)
    assert message.events.filter(type="bounced").count() == 1
    message.refresh_from_db()
    assert message.status == EmailStatus.BOUNCED
    assert Suppression.objects.filter(address="bounce@example.com").exists()


def _provider_records(provider: str, payload: dict):
    account = ProviderAccountFactory(kind="email", provider=provider)
    message = WebhookMessage.build(
        event_type=str(payload.get("event")), dedupe_key="k", payload=payload
    )
    return get_adapter(account).parse_email_events(message)


@pytest.mark.parametrize(
    ("provider", "payload", "reason", "stops_orders"),
    [
        (
            "sendgrid",
            sendgrid_event("dropped", reason="Bounced Address"),
            "hard_bounce",
            True,
        ),
        (
            "sendgrid",
            sendgrid_event("dropped", reason="Spam Reporting Address"),
            "complaint",
            True,
        ),
        (
            "sendgrid",
            sendgrid_event("dropped", reason="Unsubscribed Address"),
            "unsubscribe",
            False,
        ),
        ("mailgun", mailgun_event("failed_suppressed"), "hard_bounce", True),
        (
            "mailgun",
            mailgun_event("failed_suppressed", reason="suppress-complaint"),
            "complaint",
            True,
        ),
    ],
)
def test_a_drop_for_an_address_the_provider_suppresses_suppresses_it_here(
    sent, provider, payload, reason, stops_orders
) -> None:
    # The provider never tried: the address is on its own suppression list.
    (record,) = _provider_records(provider, payload)
    email_event_apply(message=sent, record=record)
    sent.refresh_from_db()
    assert sent.status == EmailStatus.FAILED
    (suppression,) = Suppression.objects.all()
    assert (suppression.address, suppression.reason) == ("ada@example.com", reason)
    nxt = email_message_create(
        to="ada@example.com", template="order_confirmation", context=ORDER
    )
    assert (nxt.status == EmailStatus.SUPPRESSED) is stops_orders


def test_a_drop_for_another_reason_suppresses_nothing(sent) -> None:
    (record,) = _provider_records("sendgrid", sendgrid_event("dropped"))
    email_event_apply(message=sent, record=record)
    sent.refresh_from_db()
    assert sent.status == EmailStatus.FAILED
    assert not Suppression.objects.exists()


def _handled(provider: str, payload: dict) -> WebhookEvent:
    account = ProviderAccountFactory(kind="email", provider=provider)
    stored = WebhookEventFactory(
        account=account, event_type=str(payload["event"]), payload=payload
    )
    email_webhook_handle(stored)
    return stored


def test_a_complaint_about_a_message_we_never_sent_suppresses_the_address(
    db,
) -> None:
    # SendGrid's documented spamreport; the message ids match nothing here.
    stored = _handled("sendgrid", sendgrid_event("spamreport"))
    (suppression,) = Suppression.objects.all()
    assert (suppression.address, suppression.reason) == (
        "recipient@example.com",
        "complaint",
    )
    assert suppression.source == f"webhook:{stored.account.slug}:{stored.pk}"
    assert "address suppressed" in stored.note


@pytest.mark.parametrize("name", ["delivered", "open", "click", "deferred"])
def test_delivery_news_about_a_message_we_never_sent_is_ignored(db, name) -> None:
    _handled("sendgrid", sendgrid_event(name))
    assert not Suppression.objects.exists()
    assert not EmailEvent.objects.exists()


def test_an_address_event_naming_no_usable_address_suppresses_nothing(db) -> None:
    _handled("sendgrid", sendgrid_event("spamreport", email='"a,b"@example.com'))
    assert not Suppression.objects.exists()
