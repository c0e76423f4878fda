"""Amazon SES events over SNS through the intake (/webhooks/<slug>/): the
signature verified with a certificate fetched only from an SNS host through
the account's client and cached; topics allow-listed; subscription
confirmation stored, then confirmed by its handler; events normalised.
Events: tests/fixtures/amazon_ses/ses_events.json (README there); keys and
certificates generated in tests/notifications/signing_keys.py."""

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import responses
from django.test import Client

from integrations.models import ProviderAccount, WebhookEvent
from integrations.registry import get_adapter
from integrations.webhooks.messages import WebhookMessage
from integrations.webhooks.services import webhook_event_process
from notifications.models import EmailMessage, EmailStatus, Suppression
from notifications.providers import ses_events
from notifications.providers.base import MESSAGE_ID_HEADER, BounceType, EmailEventType
from notifications.providers.email_types import MalformedEvent
from tests.factories import ProviderAccountFactory
from tests.notifications.contract.harness_amazon_ses import TOPIC, event
from tests.notifications.signing_keys import sns_body, sns_certificate_pem

pytestmark = pytest.mark.django_db

SUBSCRIBE_URL = (
    "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription"
    f"&TopicArn={TOPIC}&Token=2336412f37fb687f5d51e6e241d09c805a5a57b30d712f7"
)


@pytest.fixture
def ses() -> ProviderAccount:
    return ProviderAccountFactory(
        kind="email",
        provider="amazon_ses",
        credentials={"access_key_id": "AKIATEST", "secret_access_key": "secret"},
        settings={"region": "us-east-1", "sns_topic_arns": f"{TOPIC}\narn:other"},
    )


def cert_url() -> str:
    # One per test: the certificate cache is shared (Redis outlives a test).
    return f"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-{uuid.uuid4().hex}.pem"


def serve_cert(rsps: responses.RequestsMock, url: str, **kwargs: Any) -> None:
    rsps.get(url, **({"body": sns_certificate_pem()} | kwargs))


def fields(kind: str = "Notification", **changes: Any) -> dict[str, Any]:
    base = {
        "Type": kind,
        "MessageId": str(uuid.uuid4()),
        "TopicArn": TOPIC,
        "Timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }
    if kind == "Notification":
        base["Message"] = json.dumps(event("bounce"))
    else:
        base["Message"] = "You have chosen to subscribe to the topic."
        base["SubscribeURL"] = SUBSCRIBE_URL
        base["Token"] = "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f7"
    return {**base, **changes}


def post(account: ProviderAccount, body: bytes):
    return Client().post(
        f"/webhooks/{account.slug}/",
        data=body,
        content_type="text/plain; charset=UTF-8",
        headers={"x-amz-sns-message-type": "Notification"},
    )


def test_signed_notification_is_stored(ses, rsps) -> None:
    url = cert_url()
    serve_cert(rsps, url)
    message = fields()
    response = post(ses, sns_body(message, cert_url=url))
    assert response.status_code == 200, response.content
    row = WebhookEvent.objects.get(account=ses)
    assert (row.event_type, row.dedupe_key) == ("Bounce", message["MessageId"])
    assert row.payload["ses"]["bounce"]["bounceType"] == "Permanent"


@pytest.mark.parametrize("version", ["1", "2"])
def test_certificate_is_fetched_once_through_the_client(ses, rsps, version) -> None:
    url = cert_url()
    serve_cert(rsps, url)
    for _ in range(3):
        body = sns_body(fields(), cert_url=url, version=version)
        assert post(ses, body).status_code == 200
    assert len(rsps.calls) == 1
    assert rsps.calls[0].request.headers["X-Correlation-ID"]
    assert WebhookEvent.objects.filter(account=ses).count() == 3


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem",
        "http://sns.us-east-1.amazonaws.com/cert.pem",
        "https://s3.amazonaws.com/sns/cert.pem",
    ],
)
def test_certificate_from_anywhere_else_is_never_fetched(ses, rsps, url) -> None:
    response = post(ses, sns_body(fields(), cert_url=url))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_signature"
    assert len(rsps.calls) == 0
    assert not WebhookEvent.objects.filter(account=ses).exists()


def test_topic_not_allowed_is_refused_before_any_fetch(ses, rsps) -> None:
    body = sns_body(fields(TopicArn="arn:aws:sns:us-east-1:999:attacker"))
    response = post(ses, body)
    assert response.status_code == 401
    assert len(rsps.calls) == 0


def test_account_without_allowed_topics_refuses_everything(rsps) -> None:
    account = ProviderAccountFactory(
        kind="email",
        provider="amazon_ses",
        credentials={"access_key_id": "AKIATEST", "secret_access_key": "secret"},
        settings={"region": "us-east-1"},
    )
    response = post(account, sns_body(fields()))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "webhook_secret_missing"


def test_unreachable_certificate_asks_sns_to_retry(ses, rsps) -> None:
    url = cert_url()
    serve_cert(rsps, url, status=500, body="")
    response = post(ses, sns_body(fields(), cert_url=url))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "verification_unavailable"
    assert not WebhookEvent.objects.filter(account=ses).exists()


def test_tampered_message_is_forged(ses, rsps) -> None:
    url = cert_url()
    serve_cert(rsps, url)
    signed = json.loads(sns_body(fields(), cert_url=url))
    signed["Message"] = json.dumps(event("complaint"))
    response = post(ses, json.dumps(signed).encode())
    assert response.status_code == 401


def test_old_message_is_stale(ses, rsps) -> None:
    url = cert_url()
    serve_cert(rsps, url)
    body = sns_body(fields(Timestamp="2026-01-01T00:00:00.000Z"), cert_url=url)
    response = post(ses, body)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "timestamp_out_of_tolerance"


def test_subscription_is_confirmed_by_its_handler(ses, rsps) -> None:
    url = cert_url()
    serve_cert(rsps, url)
    rsps.get(SUBSCRIBE_URL, body="<ConfirmSubscriptionResponse/>")
    response = post(ses, sns_body(fields("SubscriptionConfirmation"), cert_url=url))
    assert response.status_code == 200
    row = WebhookEvent.objects.get(account=ses)
    assert row.event_type == "sns.SubscriptionConfirmation"
    webhook_event_process(event_id=row.pk)
    confirmations = [c for c in rsps.calls if "ConfirmSubscription" in c.request.url]
    assert len(confirmations) == 1
    row.refresh_from_db()
    assert row.status == "processed"


def test_subscription_to_a_host_that_is_not_sns_is_refused(ses, rsps) -> None:
    url = cert_url()
    serve_cert(rsps, url)
    changed = fields(
        "SubscriptionConfirmation", SubscribeURL="https://evil.example/confirm"
    )
    response = post(ses, sns_body(changed, cert_url=url))
    assert response.status_code == 401
    assert not any("evil" in c.request.url for c in rsps.calls)


def test_failed_confirmation_is_kept_for_retry(ses, rsps) -> None:
    url = cert_url()
    serve_cert(rsps, url)
    rsps.get(SUBSCRIBE_URL, status=503)
    post(ses, sns_body(fields("SubscriptionConfirmation"), cert_url=url))
    row = WebhookEvent.objects.get(account=ses)
    webhook_event_process(event_id=row.pk)
    row.refresh_from_db()
    assert row.status in ("failed", "received")
    assert row.last_error


def _records(account: ProviderAccount, ses_event: dict[str, Any]):
    message = WebhookMessage.build(
        event_type="x", dedupe_key="k", payload={"sns": {}, "ses": ses_event}
    )
    return get_adapter(account).parse_email_events(message)


@pytest.mark.parametrize(
    ("name", "kind", "bounce", "recipient"),
    [
        ("bounce", EmailEventType.BOUNCED, BounceType.HARD, "jane@example.com"),
        (
            "bounce_transient",
            EmailEventType.BOUNCED,
            BounceType.SOFT,
            "full@example.com",
        ),
        ("delivery", EmailEventType.DELIVERED, None, "recipient@example.com"),
        ("complaint", EmailEventType.COMPLAINED, None, "recipient@example.com"),
        ("reject", EmailEventType.REJECTED, None, "recipient@example.com"),
        ("open", EmailEventType.OPENED, None, "recipient@example.com"),
        ("click", EmailEventType.CLICKED, None, "recipient@example.com"),
        ("delivery_delay", EmailEventType.DEFERRED, None, "recipient@example.com"),
    ],
)
def test_ses_events_are_normalised(ses, name, kind, bounce, recipient) -> None:
    payload = event(name)
    (record,) = _records(ses, payload)
    assert (record.type, record.bounce_type) == (kind, bounce)
    assert record.recipient == recipient
    assert record.provider_message_id == payload["mail"]["messageId"]
    assert record.occurred_at.tzinfo is not None


def test_send_event_and_confirmations_give_no_record(ses) -> None:
    assert _records(ses, event("send")) == []
    message = WebhookMessage.build(
        event_type="sns.SubscriptionConfirmation", dedupe_key="k", payload={"sns": {}}
    )
    assert get_adapter(ses).parse_email_events(message) == []


def test_our_message_id_and_smtp_details_come_back(ses) -> None:
    (record,) = _records(ses, event("bounce"))
    assert record.message_id == "eml_contract0001"
    assert record.details["diagnosticCode"].startswith("smtp; 550 5.1.1")
    assert record.details["bounceSubType"] == "General"


def test_one_record_per_bounced_recipient(ses) -> None:
    payload = event("bounce")
    recipients = payload["bounce"]["bouncedRecipients"]
    payload["bounce"]["bouncedRecipients"] = [
        *recipients,
        {**recipients[0], "emailAddress": "mary@example.com"},
    ]
    records = _records(ses, payload)
    assert [r.recipient for r in records] == ["jane@example.com", "mary@example.com"]


@pytest.mark.parametrize(
    ("name", "part", "value", "recipients"),
    [
        ("bounce", "mail", "x", ["jane@example.com"]),
        ("bounce", "bounce", ["x"], []),
        ("bounce", "bounce.bouncedRecipients", "jane@example.com", []),
        ("bounce", "mail.headers", 7, ["jane@example.com"]),
        ("reject", "mail.destination", "recipient@example.com", []),
    ],
)
def test_a_part_that_is_not_of_its_documented_type_reads_as_absent(
    ses, name, part, value, recipients
) -> None:
    # A string read a character at a time, or .get on a list, would name
    # nonsense recipients or fail the signed event. An event left naming no
    # recipient at all is malformed (stored dead for staff), not applied as
    # nothing (issue 17: an event missing its fields is never dropped).
    payload = event(name)
    *path, last = part.split(".")
    target = payload
    for key in path:
        target = target[key]
    target[last] = value
    if not recipients:
        with pytest.raises(MalformedEvent, match="names no recipient"):
            _records(ses, payload)
        return
    assert [r.recipient for r in _records(ses, payload)] == recipients


def test_certificate_cache_down_still_verifies(ses, rsps, monkeypatch) -> None:
    class Down:
        def get(self, *args, **kwargs):
            raise ConnectionError("cache unreachable")

        set = get

    # Only the certificate cache: the breaker's state needs the real one.
    monkeypatch.setattr(ses_events, "cache", Down())
    url = cert_url()
    serve_cert(rsps, url)
    for _ in range(2):
        assert post(ses, sns_body(fields(), cert_url=url)).status_code == 200
    assert len(rsps.calls) == 2  # fetched each time, nothing cached


def _without_our_header(name: str) -> dict[str, Any]:
    ses = event(name)
    mail = ses["mail"]
    headers = [h for h in mail.get("headers", []) if h["name"] != MESSAGE_ID_HEADER]
    return {**ses, "mail": {**mail, "headers": headers}}


def test_a_bounce_for_an_unknown_outcome_message_suppresses_the_address(
    ses, rsps
) -> None:
    # The send's answer was lost (status unknown, no SES id stored) and the
    # event's headers do not carry our id: the bounce still stops the address.
    lost = EmailMessage.objects.create(
        to_email="jane@example.com",
        from_email="shop@example.com",
        template="order_confirmation",
        subject="Your order",
        text_body="Thanks",
        status=EmailStatus.UNKNOWN,
    )
    url = cert_url()
    serve_cert(rsps, url)
    body = sns_body(
        fields(Message=json.dumps(_without_our_header("bounce"))), cert_url=url
    )
    assert post(ses, body).status_code == 200
    row = WebhookEvent.objects.get(account=ses)
    assert webhook_event_process(event_id=row.pk) == "processed"
    (suppression,) = Suppression.objects.all()
    assert (suppression.address, suppression.reason) == (
        "jane@example.com",
        "hard_bounce",
    )
    assert suppression.source == f"webhook:{ses.slug}:{row.pk}"
    lost.refresh_from_db()
    assert lost.status == EmailStatus.UNKNOWN  # never resent on a guess


def test_a_complaint_for_a_message_we_cannot_match_suppresses_the_address(
    ses, rsps
) -> None:
    url = cert_url()
    serve_cert(rsps, url)
    body = sns_body(fields(Message=json.dumps(event("complaint"))), cert_url=url)
    assert post(ses, body).status_code == 200
    webhook_event_process(event_id=WebhookEvent.objects.get(account=ses).pk)
    (suppression,) = Suppression.objects.all()
    assert (suppression.address, suppression.reason) == (
        "recipient@example.com",
        "complaint",
    )


def test_a_delivery_for_a_message_we_cannot_match_changes_nothing(ses, rsps) -> None:
    url = cert_url()
    serve_cert(rsps, url)
    body = sns_body(fields(Message=json.dumps(event("delivery"))), cert_url=url)
    assert post(ses, body).status_code == 200
    outcome = webhook_event_process(event_id=WebhookEvent.objects.get(account=ses).pk)
    assert outcome == "processed"  # ignored, not failed and retried
    assert not Suppression.objects.exists()


@pytest.mark.parametrize(
    ("domains", "suppressed"),
    [
        ("", True),  # none configured: as before
        ("example.com", True),  # the example's mail.source john@example.com
        ("shop.example.net", False),  # another system's mail on the account
    ],
)
def test_a_bounce_naming_no_message_counts_only_from_our_domain(
    ses, rsps, domains, suppressed
) -> None:
    ses.settings = {**ses.settings, "sending_domains": domains}
    ses.save(update_fields=["settings"])
    url = cert_url()
    serve_cert(rsps, url)
    bounce = json.dumps(_without_our_header("bounce"))
    assert post(ses, sns_body(fields(Message=bounce), cert_url=url)).status_code == 200
    row = WebhookEvent.objects.get(account=ses)
    assert webhook_event_process(event_id=row.pk) == "processed"
    assert Suppression.objects.exists() is suppressed
