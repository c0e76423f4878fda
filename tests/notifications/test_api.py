"""The storefront email API: sending with an Idempotency-Key, validation
errors in the API's shape, listing by cursor, a message with its events,
scopes and the OpenAPI schema."""

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from integrations.registry import get_adapter
from integrations.webhooks.messages import WebhookMessage
from notifications.api_examples import SEND_REQUEST
from notifications.models import EmailMessage, EmailStatus, SandboxEmail
from notifications.providers.base import BounceType, EmailEventRecord, EmailEventType
from notifications.services import email_event_apply, suppression_add
from tests.factories import ApiKeyFactory, ProviderAccountFactory
from tests.notifications.contract.harness_sendgrid import event as sendgrid_event

EMAILS = "/api/v1/notifications/emails/"
pytestmark = pytest.mark.django_db


def _client(*scopes: str) -> APIClient:
    key = ApiKeyFactory(scopes=list(scopes))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    return client


@pytest.fixture
def api() -> APIClient:
    return _client("email:send", "email:read")


def _send(api: APIClient, body: dict, key: str | None = "k-1"):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return api.post(EMAILS, body, format="json", **headers)


def test_send_stores_sends_once_and_replays(
    api, email_accounts, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        first = _send(api, SEND_REQUEST)
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["id"].startswith("eml_")
    assert body["subject"] == "Your order o-1001 is confirmed"
    assert [e["type"] for e in body["events"]] == ["queued"]
    with django_capture_on_commit_callbacks(execute=True):
        again = _send(api, SEND_REQUEST)
    assert again.json()["id"] == body["id"]
    assert again["Idempotent-Replayed"] == "true"
    assert EmailMessage.objects.count() == 1
    assert SandboxEmail.objects.count() == 1
    detail = api.get(f"{EMAILS}{body['id']}/").json()
    assert detail["status"] == "sent"
    assert detail["account"] == "mail-primary"
    assert detail["provider"] == "sandbox"
    assert [e["type"] for e in detail["events"]] == ["queued", "sent"]


def test_the_idempotency_key_is_required_and_bound_to_the_body(api) -> None:
    missing = _send(api, SEND_REQUEST, key=None)
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "idempotency_key_required"
    assert _send(api, SEND_REQUEST, key="same").status_code == 201
    other = _send(api, {**SEND_REQUEST, "to": "bob@example.com"}, key="same")
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert EmailMessage.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "code", "param"),
    [
        ({"to": "not an address"}, "invalid_email", "to"),
        ({"template": "no_such_template"}, "template_not_found", "template"),
        ({"template": "../etc"}, "template_not_found", "template"),
        (
            {"context": {"order_id": "o-1"}},
            "missing_variable",
            "context.amount_display",
        ),
        ({"category": "spam"}, "invalid_choice", "category"),
        (
            {"context": {"order_id": "o" * 1000, "amount_display": "€1"}},
            "subject_too_long",
            "context",
        ),
        ({"to": "a" * 250 + "@example.com"}, "max_length", "to"),
        ({"context": "text"}, "not_a_dict", "context"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(
    api, change, code, param
) -> None:
    response = _send(api, {**SEND_REQUEST, **change})
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param)
    assert error["type"] == "invalid_request_error"
    assert EmailMessage.objects.count() == 0


QUOTED = '"victim@evil.com,"@example.com'


def test_a_quoted_local_part_is_a_400_saying_why(api) -> None:
    # RFC 5322 allows it; Postmark's To and Mailgun's to are comma-separated
    # lists, so the comma inside could be read as a second recipient.
    response = _send(api, {**SEND_REQUEST, "to": QUOTED})
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("invalid_email", "to")
    assert "Quoted local parts" in error["message"]
    assert "\n" not in error["message"]
    assert EmailMessage.objects.count() == 0


def test_a_suppressed_address_is_stored_suppressed_and_not_sent(
    api, email_accounts, django_capture_on_commit_callbacks
) -> None:
    suppression_add(address="ada@example.com", reason="complaint", source="test")
    with django_capture_on_commit_callbacks(execute=True):
        response = _send(api, SEND_REQUEST)
    assert response.status_code == 201
    assert response.json()["status"] == "suppressed"
    assert SandboxEmail.objects.count() == 0


def test_list_pages_by_cursor_and_filters(api) -> None:
    for n in range(3):
        body = {**SEND_REQUEST, "order_id": f"o-{n}"}
        assert _send(api, body, key=f"k-{n}").status_code == 201
    first = api.get(EMAILS, {"limit": 2}).json()
    assert len(first["results"]) == 2
    assert "events" not in first["results"][0]
    second = api.get(EMAILS, {"limit": 2, "cursor": first["next"]}).json()
    seen = [m["order_id"] for m in first["results"] + second["results"]]
    assert seen == ["o-2", "o-1", "o-0"]
    only = api.get(EMAILS, {"order_id": "o-1"}).json()["results"]
    assert [m["order_id"] for m in only] == ["o-1"]
    assert api.get(EMAILS, {"status": "sent"}).json()["results"] == []
    assert api.get(EMAILS, {"cursor": "garbage"}).status_code == 400
    bad = api.get(EMAILS, {"status": "lost"})
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "status"


def test_detail_shows_a_bounce_and_unknown_ids_are_404(api) -> None:
    created = _send(api, SEND_REQUEST).json()
    message = EmailMessage.objects.get(public_id=created["id"])
    email_event_apply(
        message=message,
        record=EmailEventRecord(
            type=EmailEventType.BOUNCED,
            occurred_at=timezone.now(),
            recipient=message.to_email,
            provider_message_id="",
            message_id=message.public_id,
            bounce_type=BounceType.HARD,
            details={"reason": "550 no such user"},
        ),
    )
    detail = api.get(f"{EMAILS}{message.public_id}/").json()
    assert detail["status"] == EmailStatus.BOUNCED
    bounced = detail["events"][-1]
    assert (bounced["type"], bounced["bounce_type"]) == ("bounced", "hard")
    missing = api.get(f"{EMAILS}eml_nope/")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "not_found_error"


def test_scopes(email_accounts) -> None:
    reader = _client("email:read")
    refused = _send(reader, SEND_REQUEST)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "missing_scope"
    sender = _client("email:send")
    assert _send(sender, SEND_REQUEST).status_code == 201
    assert sender.get(EMAILS).status_code == 403
    assert APIClient().get(EMAILS).status_code == 401


def test_schema_lists_the_endpoints_with_examples() -> None:
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    send = schema["paths"][EMAILS]["post"]
    assert send["operationId"] == "email_send"
    assert any(p["name"] == "Idempotency-Key" for p in send["parameters"])
    content = send["requestBody"]["content"]["application/json"]
    assert content["examples"]
    assert "400" in send["responses"]
    detail = schema["paths"][f"{EMAILS}{{public_id}}/"]["get"]
    assert detail["responses"]["200"]["content"]["application/json"]["examples"]
    listing = schema["paths"][EMAILS]["get"]
    assert listing["operationId"] == "emails_list"
    # The storefront's event carries our code, never the provider's details.
    components = schema["components"]["schemas"]
    assert set(components["EmailEvent"]["properties"]) == {
        "type",
        "bounce_type",
        "occurred_at",
        "code",
    }
    assert {"error_code", "last_error"} <= set(components["EmailMessage"]["properties"])


def _deliver(message: EmailMessage) -> None:
    email_event_apply(
        message=message,
        record=EmailEventRecord(
            type=EmailEventType.DELIVERED,
            occurred_at=timezone.now(),
            recipient=message.to_email,
            provider_message_id="",
            message_id=message.public_id,
        ),
    )


def test_a_send_that_went_wrong_shows_our_sentence_and_code(
    api, email_accounts, django_capture_on_commit_callbacks
) -> None:
    # The sandbox takes timeout@ and loses the answer: unknown, not resent.
    with django_capture_on_commit_callbacks(execute=True):
        created = _send(api, {**SEND_REQUEST, "to": "timeout@example.com"}).json()
    message = EmailMessage.objects.get(public_id=created["id"])
    assert message.status == EmailStatus.UNKNOWN
    # The failover's text, the provider's words in it, is for staff.
    assert message.last_error.startswith("outcome unknown at mail-primary: ")
    provider_text = message.last_error.partition(": ")[2]
    response = api.get(f"{EMAILS}{message.public_id}/")
    assert provider_text not in response.text
    detail = response.json()
    assert detail["error_code"] == "read_timeout"
    assert detail["last_error"].startswith("The email provider did not confirm")
    assert detail["events"][-1] == {
        "type": "unknown",
        "bounce_type": "",
        "occurred_at": detail["events"][-1]["occurred_at"],
        "code": "read_timeout",
    }


def test_a_delivery_report_after_an_unknown_send_clears_the_failure(
    api, email_accounts, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        created = _send(api, {**SEND_REQUEST, "to": "timeout@example.com"}).json()
    message = EmailMessage.objects.get(public_id=created["id"])
    assert message.status == EmailStatus.UNKNOWN
    _deliver(message)
    body = api.get(f"{EMAILS}{message.public_id}/").json()
    assert body["status"] == "delivered"
    # It read "outcome unknown at mail-primary: ..." after the delivery.
    assert (body["last_error"], body["error_code"]) == ("", "")
    message.refresh_from_db()
    assert (message.last_error, message.error_code) == ("", "")
    # The send's failure stays on its event for staff.
    unknown = message.events.get(type="unknown")
    assert unknown.details["code"] == "read_timeout"


def test_a_providers_event_details_stay_with_staff(
    api, email_accounts, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        created = _send(api, SEND_REQUEST).json()
    message = EmailMessage.objects.get(public_id=created["id"])
    sendgrid = ProviderAccountFactory(kind="email", provider="sendgrid", slug="sg")
    remote = "550 5.1.1 <ada@example.com>: mx3.internal.example.net rejected"
    payload = sendgrid_event(
        "bounce", reason=remote, message_id=message.public_id, useragent="UA/1"
    )
    (record,) = get_adapter(sendgrid).parse_email_events(
        WebhookMessage.build(event_type="bounce", dedupe_key="x", payload=payload)
    )
    email_event_apply(message=message, record=record)
    response = api.get(f"{EMAILS}{message.public_id}/")
    # The remote server's reply and SendGrid's fields were passed on verbatim.
    assert "mx3.internal.example.net" not in response.text
    assert "UA/1" not in response.text
    bounced = response.json()["events"][-1]
    assert set(bounced) == {"type", "bounce_type", "occurred_at", "code"}
    assert message.events.get(type="bounced").details["reason"] == remote
