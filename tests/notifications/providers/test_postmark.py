"""Postmark: sends over a local fault server (streams by category, error
codes) and webhooks through the intake (basic-auth credentials of the
webhook URL, event normalisation). Fixtures: tests/fixtures/postmark/."""

import base64
import json
from pathlib import Path

import pytest
from django.test import Client

from integrations.errors import NotProcessed, Rejected
from integrations.models import ProviderAccount, WebhookEvent
from integrations.registry import get_adapter
from integrations.testing.faultserver import FaultServer, respond
from integrations.webhooks.messages import WebhookMessage
from integrations.webhooks.services import webhook_event_process
from notifications.models import EmailStatus, Suppression
from notifications.providers.base import (
    INVALID_RECIPIENT,
    BounceType,
    EmailCategory,
    EmailEventType,
)
from notifications.providers.postmark import PostmarkAdapter
from notifications.services import email_message_create
from notifications.services.events import email_event_apply
from notifications.services.suppressions import suppression_blocks
from tests.factories import ProviderAccountFactory
from tests.notifications.contract.harness import sample_email
from tests.notifications.contract.harness_postmark import (
    WEBHOOK_PASSWORD,
    WEBHOOK_USER,
    event,
    posted,
)
from tests.notifications.providers.conftest import fast

pytestmark = pytest.mark.django_db

ORDER = {"order_id": "1001", "amount_display": "€10.50"}
API = json.loads((Path(__file__).parents[2] / "fixtures/postmark/api.json").read_text())


@pytest.fixture
def postmark(fault: FaultServer, monkeypatch: pytest.MonkeyPatch) -> ProviderAccount:
    url = fault.url + "/"
    monkeypatch.setattr(PostmarkAdapter, "api_urls", {"test": url, "live": url})
    return ProviderAccountFactory(
        kind="email",
        provider="postmark",
        credentials={
            "server_token": "server-token",
            "webhook_username": WEBHOOK_USER,
            "webhook_password": WEBHOOK_PASSWORD,
        },
        settings=fast(),
    )


def _send(account: ProviderAccount, **changes):
    return get_adapter(account).send(sample_email(**changes))


def test_transactional_mail_goes_to_the_outbound_stream(postmark, fault) -> None:
    fault.route("POST", "/email", respond(200, json=API["send_ok"]))
    result = _send(postmark, tags=("order_confirmation", "second"))
    assert result.provider_message_id == API["send_ok"]["MessageID"]
    (request,) = fault.requests_for("POST", "/email")
    assert request.header("X-Postmark-Server-Token") == "server-token"
    body = request.json()
    assert body["MessageStream"] == "outbound"
    assert body["Tag"] == "order_confirmation"  # Postmark takes one
    assert body["Metadata"]["message_id"] == "eml_contract0001"


def test_marketing_mail_goes_to_the_broadcast_stream(postmark, fault) -> None:
    postmark.settings["broadcast_stream"] = "newsletters"
    postmark.save(update_fields=["settings"])
    fault.route("POST", "/email", respond(200, json=API["send_ok"]))
    _send(postmark, category=EmailCategory.MARKETING)
    assert fault.requests_for("POST", "/email")[0].json()["MessageStream"] == (
        "newsletters"
    )


@pytest.mark.parametrize(
    ("status", "body", "error", "code"),
    [
        (422, API["invalid_recipient"], Rejected, INVALID_RECIPIENT),
        (422, API["inactive_recipient"], Rejected, INVALID_RECIPIENT),
        (422, API["invalid_from"], Rejected, "unprocessable"),
        (422, API["out_of_credits"], NotProcessed, "account_unable_to_send"),
        (401, API["unauthorized"], NotProcessed, "authentication_failed"),
        (500, API["server_error"], NotProcessed, "server_error"),
    ],
)
def test_errors_by_postmark_code(postmark, fault, status, body, error, code) -> None:
    fault.route("POST", "/email", respond(status, json=body))
    to = (
        "invalid@invalid" if "invalid@invalid" in body["Message"] else "ada@example.com"
    )
    with pytest.raises(error) as info:
        _send(postmark, to=to)
    assert info.value.code == code


def test_refusal_naming_another_address_is_still_rejected(postmark, fault) -> None:
    fault.route("POST", "/email", respond(422, json=API["invalid_recipient"]))
    with pytest.raises(Rejected) as info:
        _send(postmark, to="ada@example.com")
    assert info.value.http_status == 422


def test_an_idn_address_is_sent_as_punycode_and_its_id_read(postmark, fault) -> None:
    # Postmark's answer names the address it was given (punycode); anymail
    # keyed the recipient by the Unicode one: two statuses, no single id.
    answer = {**API["send_ok"], "To": "ada@xn--bcher-kva.de"}
    fault.route("POST", "/email", respond(200, json=answer))
    result = _send(postmark, to="ada@bücher.de")
    assert result.provider_message_id == answer["MessageID"]
    (request,) = fault.requests_for("POST", "/email")
    assert request.json()["To"] == "ada@xn--bcher-kva.de"


def test_health_check_reads_the_server(postmark, fault) -> None:
    fault.route("GET", "/server", respond(200, json=API["server"]))
    result = get_adapter(postmark).health_check()
    assert result.ok
    assert result.extra == {"server": "Switchyard"}
    assert fault.requests[0].header("X-Postmark-Server-Token") == "server-token"


def post(account: ProviderAccount, body: bytes, authorization: str | None):
    headers = {"Authorization": authorization} if authorization else {}
    return Client().post(
        f"/webhooks/{account.slug}/",
        data=body,
        content_type="application/json",
        headers=headers,
    )


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_event_with_the_url_credentials_is_stored(postmark) -> None:
    hook = posted(event("bounce_hard"))
    response = post(postmark, hook.body, hook.headers["Authorization"])
    assert response.status_code == 200
    row = WebhookEvent.objects.get(account=postmark)
    assert (row.event_type, row.dedupe_key) == ("Bounce", "Bounce:901542550")
    assert "authorization" not in row.headers


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 400),
        (_basic(WEBHOOK_USER, "wrong"), 401),
        (_basic("someone", WEBHOOK_PASSWORD), 401),
        ("Bearer " + WEBHOOK_PASSWORD, 401),
        ("Basic %%%", 401),
    ],
)
def test_wrong_or_missing_credentials_are_refused(
    postmark, authorization, status
) -> None:
    body = json.dumps(event("delivery")).encode()
    response = post(postmark, body, authorization)
    assert response.status_code == status
    assert not WebhookEvent.objects.filter(account=postmark).exists()


def test_account_without_webhook_user_refuses_everything() -> None:
    account = ProviderAccountFactory(
        kind="email",
        provider="postmark",
        credentials={"server_token": "t", "webhook_password": WEBHOOK_PASSWORD},
    )
    body = json.dumps(event("delivery")).encode()
    response = post(account, body, _basic("", WEBHOOK_PASSWORD))
    assert response.status_code == 503


def test_records_without_postmark_id_get_a_stable_dedupe_key(postmark) -> None:
    hook = posted(event("delivery"))
    post(postmark, hook.body, hook.headers["Authorization"])
    again = post(postmark, hook.body, hook.headers["Authorization"])
    assert again.json()["duplicate"] is True
    (row,) = WebhookEvent.objects.filter(account=postmark)
    assert row.dedupe_key.startswith("Delivery:883953f4-")


@pytest.mark.parametrize(
    ("name", "kind", "bounce", "recipient"),
    [
        ("bounce_hard", EmailEventType.BOUNCED, BounceType.HARD, "bounce@example.com"),
        ("bounce_soft", EmailEventType.BOUNCED, BounceType.SOFT, "full@example.com"),
        ("bounce_transient", EmailEventType.DEFERRED, None, "slow@example.com"),
        ("delivery", EmailEventType.DELIVERED, None, "recipient@example.com"),
        ("open", EmailEventType.OPENED, None, "recipient@example.com"),
        ("click", EmailEventType.CLICKED, None, "recipient@example.com"),
        ("spam_complaint", EmailEventType.COMPLAINED, None, "spam@example.com"),
        ("unsubscribe", EmailEventType.UNSUBSCRIBED, None, "john@example.com"),
    ],
)
def test_events_are_normalised(postmark, name, kind, bounce, recipient) -> None:
    payload = event(name)
    message = WebhookMessage.build(
        event_type=payload["RecordType"], dedupe_key="k", payload=payload
    )
    (record,) = get_adapter(postmark).parse_email_events(message)
    assert (record.type, record.bounce_type, record.recipient) == (
        kind,
        bounce,
        recipient,
    )
    assert record.provider_message_id == payload["MessageID"]
    assert record.occurred_at.tzinfo is not None


@pytest.mark.parametrize("name", ["bounce_autoresponder"])
def test_records_not_about_delivery_give_nothing(postmark, name) -> None:
    payload = event(name)
    message = WebhookMessage.build(
        event_type=payload["RecordType"], dedupe_key="k", payload=payload
    )
    assert get_adapter(postmark).parse_email_events(message) == []


def test_our_message_id_comes_back_in_metadata(postmark) -> None:
    payload = event("delivery")
    message = WebhookMessage.build(
        event_type="Delivery", dedupe_key="k", payload=payload
    )
    (record,) = get_adapter(postmark).parse_email_events(message)
    assert record.message_id == "eml_contract0001"


@pytest.mark.parametrize(
    ("reason", "origin", "kind", "bounce"),
    [
        ("HardBounce", "Recipient", EmailEventType.BOUNCED, BounceType.HARD),
        ("SpamComplaint", "Recipient", EmailEventType.COMPLAINED, None),
        ("ManualSuppression", "Recipient", EmailEventType.UNSUBSCRIBED, None),
        ("ManualSuppression", "Customer", EmailEventType.MANUALLY_SUPPRESSED, None),
        ("ManualSuppression", "Admin", EmailEventType.MANUALLY_SUPPRESSED, None),
    ],
)
def test_subscription_change_says_why_the_address_was_suppressed(
    postmark, reason, origin, kind, bounce
) -> None:
    payload = event("subscription_hard_bounce", SuppressionReason=reason, Origin=origin)
    message = WebhookMessage.build(
        event_type=payload["RecordType"], dedupe_key="k", payload=payload
    )
    (record,) = get_adapter(postmark).parse_email_events(message)
    assert (record.type, record.bounce_type) == (kind, bounce)
    assert record.recipient == "bounced-address@wildbit.com"
    assert record.details["reason"] == reason


@pytest.mark.parametrize(
    ("reason", "origin"),
    [
        ("HardBounce", "Recipient"),
        ("SpamComplaint", "Recipient"),
        ("ManualSuppression", "Customer"),
    ],
)
def test_postmark_suppression_for_a_bounce_complaint_or_staff_stops_all_mail(
    email_accounts, django_capture_on_commit_callbacks, reason, origin
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        message = email_message_create(
            to="john@example.com", template="order_confirmation", context=ORDER
        )
    payload = event(
        "subscription_hard_bounce",
        Recipient="john@example.com",
        SuppressionReason=reason,
        Origin=origin,
        Metadata={"message_id": message.public_id},
    )
    account = ProviderAccountFactory(kind="email", provider="postmark", slug="pm")
    records = get_adapter(account).parse_email_events(
        WebhookMessage.build(
            event_type="SubscriptionChange", dedupe_key="k", payload=payload
        )
    )
    for record in records:
        email_event_apply(message=message, record=record)
    nxt = email_message_create(
        to="john@example.com", template="order_confirmation", context=ORDER
    )
    assert nxt.status == EmailStatus.SUPPRESSED


def test_postmark_unsubscribe_from_the_broadcast_stream_stops_marketing_mail_only(
    email_accounts, django_capture_on_commit_callbacks
) -> None:
    # On the transactional stream it stops order mail too, as Postmark does
    # (test_postmark_deactivation.py).
    with django_capture_on_commit_callbacks(execute=True):
        message = email_message_create(
            to="john@example.com", template="order_confirmation", context=ORDER
        )
    payload = event(
        "unsubscribe",
        MessageStream="broadcast",
        Metadata={"message_id": message.public_id},
    )
    account = ProviderAccountFactory(kind="email", provider="postmark", slug="pm")
    (record,) = get_adapter(account).parse_email_events(
        WebhookMessage.build(
            event_type="SubscriptionChange", dedupe_key="k", payload=payload
        )
    )
    email_event_apply(message=message, record=record)
    order = email_message_create(
        to="john@example.com", template="order_confirmation", context=ORDER
    )
    news = email_message_create(
        to="john@example.com",
        template="newsletter",
        category="marketing",
        context={"headline": "Spring", "body": "New stock"},
    )
    assert (order.status, news.status) == (EmailStatus.QUEUED, EmailStatus.SUPPRESSED)


def _manual_stop(origin: str, **changes) -> dict:
    # Postmark's subscription change example as its page says staff's stop
    # arrives: ManualSuppression of Origin Customer or Admin, MessageID null.
    return event(
        "subscription_hard_bounce",
        Recipient="john@example.com",
        SuppressionReason="ManualSuppression",
        Origin=origin,
        MessageID=None,
        **changes,
    )


@pytest.mark.parametrize("origin", ["Customer", "Admin"])
def test_staff_stop_at_postmark_naming_no_message_stops_all_mail(
    postmark, origin
) -> None:
    hook = posted(_manual_stop(origin))
    assert post(postmark, hook.body, hook.headers["Authorization"]).status_code == 200
    row = WebhookEvent.objects.get(account=postmark)
    assert webhook_event_process(event_id=row.pk) == "processed"
    (suppression,) = Suppression.objects.all()
    assert (suppression.address, suppression.reason) == ("john@example.com", "manual")
    assert suppression.source == f"webhook:{postmark.slug}:{row.pk}"
    assert suppression_blocks("john@example.com", "transactional") is not None


def test_a_stop_with_the_wrong_webhook_credentials_suppresses_nothing(
    postmark,
) -> None:
    hook = posted(_manual_stop("Customer"), password="guessed")
    assert post(postmark, hook.body, hook.headers["Authorization"]).status_code == 401
    assert not WebhookEvent.objects.exists()
    assert not Suppression.objects.exists()


def test_a_reactivation_naming_no_message_changes_nothing(postmark) -> None:
    hook = posted(event("resubscribe", MessageID=None))
    assert post(postmark, hook.body, hook.headers["Authorization"]).status_code == 200
    row = WebhookEvent.objects.get(account=postmark)
    assert webhook_event_process(event_id=row.pk) == "processed"
    # Only its time is kept, on a row closed when made, so a stop of that
    # stream older than it that arrives later is ignored.
    (note,) = Suppression.objects.all()
    assert note.removed_at == note.created_at
    assert (note.stream, note.reactivated_at) == ("outbound", row.occurred_at)
    assert suppression_blocks("john@example.com", "marketing") is None


def test_staff_stop_on_the_broadcast_stream_stops_marketing_mail_only(
    postmark,
) -> None:
    # Postmark keeps a suppression list per message stream.
    hook = posted(_manual_stop("Customer", MessageStream="broadcast"))
    assert post(postmark, hook.body, hook.headers["Authorization"]).status_code == 200
    webhook_event_process(event_id=WebhookEvent.objects.get(account=postmark).pk)
    (suppression,) = Suppression.objects.all()
    assert suppression.reason == "unsubscribe"
    assert suppression_blocks("john@example.com", "transactional") is None
    assert suppression_blocks("john@example.com", "marketing") is not None


# Postmark's bounce webhook example (postmarkapp.com/developer/webhooks/
# bounce-webhook), with our id in Metadata; each case changes only what the
# Bounce API's type table gives a type (Type, TypeCode, Name, Description)
# and Postmark's verdict on the address (Inactive, CanActivate).
DOCUMENTED_BOUNCE = {
    "RecordType": "Bounce",
    "MessageStream": "outbound",
    "ID": 4323372036854775807,
    "Type": "HardBounce",
    "TypeCode": 1,
    "Name": "Hard bounce",
    "Tag": "Test",
    "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
    "Metadata": {"a_key": "a_value", "b_key": "b_value"},
    "ServerID": 23,
    "Description": "The server was unable to deliver your message (ex: unknown "
    "user, mailbox not found).",
    "Details": "Test bounce details",
    "Email": "john@example.com",
    "From": "sender@example.com",
    "BouncedAt": "2019-11-05T16:33:54.9070259Z",
    "DumpAvailable": True,
    "Inactive": True,
    "CanActivate": True,
    "Subject": "Test subject",
    "Content": "<Full dump of bounce>",
}
# Type: (TypeCode, Name, Description) from the Bounce API's table.
BOUNCE_TYPES = {
    "ManuallyDeactivated": (
        100002,
        "Manually deactivated",
        "The email was manually deactivated.",
    ),
    "Blocked": (
        100006,
        "ISP block",
        "Blocked from this ISP due to content or blacklisting.",
    ),
    "SpamNotification": (
        512,
        "Spam notification",
        "The message was delivered, but was either blocked by the user, or "
        "classified as spam, bulk mail, or had rejected content.",
    ),
    "VirusNotification": (
        8192,
        "Virus notification",
        "The bounce is actually a virus notification warning about a "
        "virus/code infected message.",
    ),
    "Unknown": (2048, "Unknown", "Unable to classify the NDR."),
    "BadEmailAddress": (
        100000,
        "Invalid email address",
        "The address is not a valid email address.",
    ),
    "DMARCPolicy": (100009, "DMARC Policy", "Email rejected due DMARC Policy."),
    "AddressChange": (
        128,
        "Address change",
        "The recipient has requested an address change.",
    ),
    "ChallengeVerification": (
        16384,
        "Spam challenge verification",
        "The bounce is a challenge asking for verification you actually sent "
        "the email.",
    ),
}


def documented_bounce(kind: str, **changes) -> dict:
    code, name, description = BOUNCE_TYPES[kind]
    return {
        **DOCUMENTED_BOUNCE,
        "Type": kind,
        "TypeCode": code,
        "Name": name,
        "Description": description,
        **changes,
    }


def _parsed(account: ProviderAccount, payload: dict) -> list:
    message = WebhookMessage.build(
        event_type=payload["RecordType"], dedupe_key="k", payload=payload
    )
    return get_adapter(account).parse_email_events(message)


@pytest.mark.parametrize(
    ("kind", "inactive", "expected"),
    [
        # Postmark stopped the address: mail to it is not sent any more.
        ("ManuallyDeactivated", True, (EmailEventType.MANUALLY_SUPPRESSED, None)),
        # Reactivated since (Inactive false): only this message failed.
        ("ManuallyDeactivated", False, (EmailEventType.REJECTED, None)),
        # Refused for its content or for us as sender: the address is fine.
        ("Blocked", False, (EmailEventType.REJECTED, None)),
        ("DMARCPolicy", False, (EmailEventType.REJECTED, None)),
        # Delivered, then filed as spam: recorded, not a failure.
        ("SpamNotification", False, (EmailEventType.FILTERED, None)),
        ("VirusNotification", False, (EmailEventType.REJECTED, None)),
        # A report Postmark could not classify: not a verdict on the address.
        ("Unknown", False, (EmailEventType.BOUNCED, BounceType.SOFT)),
        ("BadEmailAddress", True, (EmailEventType.BOUNCED, BounceType.HARD)),
    ],
)
def test_each_documented_bounce_type_says_what_it_means_for_the_address(
    postmark, kind, inactive, expected
) -> None:
    payload = documented_bounce(kind, Inactive=inactive)
    (record,) = _parsed(postmark, payload)
    assert (record.type, record.bounce_type) == expected
    assert record.recipient == "john@example.com"
    assert record.details["inactive"] is inactive


@pytest.mark.parametrize("kind", ["AddressChange", "ChallengeVerification"])
def test_bounce_types_not_about_delivery_give_nothing(postmark, kind) -> None:
    assert _parsed(postmark, documented_bounce(kind, Inactive=False)) == []


def _webhook(account: ProviderAccount, payload: dict) -> WebhookEvent:
    hook = posted(payload)
    assert post(account, hook.body, hook.headers["Authorization"]).status_code == 200
    row = WebhookEvent.objects.get(
        account=account, dedupe_key=f"Bounce:{payload['ID']}"
    )
    assert webhook_event_process(event_id=row.pk) == "processed"
    return row


def test_manually_deactivated_address_is_suppressed_for_all_mail(postmark) -> None:
    # Staff at Postmark deactivated it: nothing more goes to it from there,
    # so nothing goes from here either, through any account.
    row = _webhook(postmark, documented_bounce("ManuallyDeactivated", MessageID=None))
    (suppression,) = Suppression.objects.all()
    assert (suppression.address, suppression.reason) == ("john@example.com", "manual")
    assert suppression.source == f"webhook:{postmark.slug}:{row.pk}"
    assert suppression_blocks("john@example.com", "transactional") is not None


@pytest.mark.parametrize("kind", ["Blocked", "VirusNotification", "DMARCPolicy"])
def test_a_message_refused_for_its_content_fails_and_the_address_stays(
    postmark, email_accounts, django_capture_on_commit_callbacks, kind
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        message = email_message_create(
            to="john@example.com", template="order_confirmation", context=ORDER
        )
    payload = documented_bounce(
        kind, Inactive=False, Metadata={"message_id": message.public_id}
    )
    _webhook(postmark, payload)
    message.refresh_from_db()
    assert message.status == EmailStatus.FAILED
    assert not Suppression.objects.exists()
    assert suppression_blocks("john@example.com", "transactional") is None


def test_a_spam_notification_does_not_fail_a_message_postmark_delivered(
    postmark, email_accounts, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        message = email_message_create(
            to="john@example.com", template="order_confirmation", context=ORDER
        )
    delivery = posted(event("delivery", Metadata={"message_id": message.public_id}))
    assert (
        post(postmark, delivery.body, delivery.headers["Authorization"]).status_code
        == 200
    )
    row = WebhookEvent.objects.get(account=postmark, event_type="Delivery")
    assert webhook_event_process(event_id=row.pk) == "processed"
    # Postmark's table: SpamNotification "The message was delivered, but was
    # either blocked by the user, or classified as spam".
    payload = documented_bounce(
        "SpamNotification", Inactive=False, Metadata={"message_id": message.public_id}
    )
    _webhook(postmark, payload)
    message.refresh_from_db()
    assert message.status == EmailStatus.DELIVERED
    assert message.events.filter(type="filtered").exists()
    assert not Suppression.objects.exists()


@pytest.mark.parametrize("metadata", ["eml_x", ["x"], 7])
def test_metadata_that_is_not_an_object_names_no_message(postmark, metadata) -> None:
    (record,) = _parsed(postmark, {**DOCUMENTED_BOUNCE, "Metadata": metadata})
    assert record.message_id == ""
    assert record.recipient == "john@example.com"


def _our_domains(account: ProviderAccount, domains: str) -> ProviderAccount:
    account.settings = {**account.settings, "sending_domains": domains}
    account.save(update_fields=["settings"])
    return account


def test_a_bounce_sent_from_another_domain_on_a_shared_server_is_ignored(
    postmark,
) -> None:
    # The documented hard bounce (From sender@example.com), naming no
    # message of ours, on a server we send from shop.example.net on.
    _our_domains(postmark, "shop.example.net\nexample.net")
    row = _webhook(postmark, DOCUMENTED_BOUNCE)
    row.refresh_from_db()
    assert row.note.startswith("ignored: another system's mail on a shared account")
    assert "sending domain" in row.note
    assert not Suppression.objects.exists()


@pytest.mark.parametrize(
    ("domains", "sender"),
    [
        ("", "sender@example.com"),  # none configured: as before
        ("example.com", "sender@example.com"),
        ("example.net, Example.COM", '"Shop" <sender@EXAMPLE.com>'),
        ("example.com", "sender@mail.example.com"),  # a subdomain of ours
        ("bücher.de", "shop@xn--bcher-kva.de"),
        # "all our subdomains", as staff naturally write it in the form
        ("*.example.com", "shop@mail.example.com"),
        # an emoji (IDNA 2003) domain: Postmark names it in its xn-- form
        ("i❤.ws", "shop@xn--i-7iq.ws"),
        # an entry that is no domain: the list is not used, as if empty
        ("example.net, https://example.net/", "sender@example.com"),
    ],
)
def test_a_bounce_sent_from_our_domain_still_suppresses(
    postmark, domains, sender
) -> None:
    _our_domains(postmark, domains)
    _webhook(postmark, {**DOCUMENTED_BOUNCE, "From": sender})
    assert Suppression.objects.get().address == "john@example.com"


def test_staff_stop_names_no_sender_and_still_counts_on_a_shared_server(
    postmark,
) -> None:
    _our_domains(postmark, "example.net")
    hook = posted(_manual_stop("Customer"))
    assert post(postmark, hook.body, hook.headers["Authorization"]).status_code == 200
    webhook_event_process(event_id=WebhookEvent.objects.get(account=postmark).pk)
    assert Suppression.objects.get().reason == "manual"
