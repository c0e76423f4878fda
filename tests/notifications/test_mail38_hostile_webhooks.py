"""Issue 17's rule 2 for email webhooks: a validly signed (or, where the
signature lives in the body, a best-effort signed) request whose body is a
JSON array, a scalar, empty, not JSON, or events missing their fields, at
each provider's webhook URL, is never a 500: a 4xx in the API's error shape
with nothing stored, or a 2xx with every stored row either applied or kept
failed with its error for staff (never dropped)."""

import base64
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import responses
from django.test import Client

from integrations.models import ProviderAccount, WebhookEvent
from tests.notifications.contract import (
    harness_amazon_ses,
    harness_mailgun,
    harness_postmark,
    harness_sendgrid,
)
from tests.notifications.signing_keys import (
    SNS_CERT_URL,
    sendgrid_sign,
    sns_body,
    sns_certificate_pem,
)

pytestmark = pytest.mark.django_db

RAW = {
    "array": b"[]",
    "array_of_scalars": b'[1, "x", null]',
    "scalar": b"42",
    "string": b'"hello"',
    "null": b"null",
    "empty": b"",
    "not_json": b"not json at all",
    "object_empty": b"{}",
    "huge_number": b'{"n": 1' + b"0" * 400 + b"}",
    "nul": b'{"event": "delivered\\u0000"}',
}


def _sendgrid(body: bytes) -> dict[str, Any]:
    stamp = str(int(time.time()))
    return {
        "headers": {
            harness_sendgrid.TIMESTAMP_HEADER: stamp,
            harness_sendgrid.SIGNATURE_HEADER: sendgrid_sign(body, stamp),
        }
    }


def _postmark(body: bytes) -> dict[str, Any]:
    pair = f"{harness_postmark.WEBHOOK_USER}:{harness_postmark.WEBHOOK_PASSWORD}"
    token = base64.b64encode(pair.encode()).decode()
    return {"headers": {"Authorization": f"Basic {token}"}}


def _mailgun_signed(data: Any) -> bytes:
    hook = harness_mailgun.signed({})
    payload = json.loads(hook.body)
    payload["event-data"] = data
    return json.dumps(payload).encode()


def _sns(message: str) -> bytes:
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
    fields = {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": harness_amazon_ses.TOPIC,
        "Subject": "Amazon SES Email Event Notification",
        "Message": message,
        "Timestamp": stamp.replace("+00:00", "Z"),
    }
    return sns_body(fields)


def _post(account: ProviderAccount, body: bytes, headers: dict[str, str]):
    return Client().post(
        f"/webhooks/{account.slug}/",
        data=body,
        content_type="application/json",
        headers=headers,
    )


def _kept_failed(account, response) -> None:
    """A 4xx storing nothing, or every stored row kept failed with its error:
    an event missing what it must carry is never processed as nothing."""
    _check(account, response)
    if response.status_code < 400:
        rows = WebhookEvent.objects.filter(account=account)
        assert {row.status for row in rows} <= {"failed", "dead"}, [
            (row.event_type, row.status) for row in rows
        ]


def _check(account, response) -> str:
    assert response.status_code < 500, response.content
    rows = list(WebhookEvent.objects.filter(account=account))
    if response.status_code >= 400:
        error = response.json()["error"]
        assert set(error) >= {"type", "code", "message", "param"}
        assert rows == []
        return f"{response.status_code} {error['code']}"
    assert rows or response.json().get("messages") == 0, "answered 2xx, none stored"
    for row in rows:
        row.refresh_from_db()
        # dead: kept with its error, not retried (the event itself is bad).
        assert row.status in ("processed", "failed", "dead"), row.status
        if row.status != "processed":
            assert row.last_error
    return f"{response.status_code} " + ",".join(sorted(r.status for r in rows))


CASES = sorted(RAW)


@pytest.mark.parametrize("case", CASES)
def test_sendgrid_hostile_bodies(case, django_capture_on_commit_callbacks) -> None:
    account = harness_sendgrid.make_account()
    body = RAW[case]
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(account, body, _sendgrid(body)["headers"])
    _check(account, response)


SENDGRID_EVENTS = [
    [{}],
    [{"event": "delivered"}],
    [{"sg_event_id": "e1"}],
    [{"sg_event_id": "e2", "event": "bounce"}],
    [{"sg_event_id": "e3", "event": "delivered", "timestamp": "soon"}],
    [{"sg_event_id": ["x"], "event": {"a": 1}, "timestamp": 10**30}],
    [[], 1, "x", None],
    [{"sg_event_id": "e9", "event": "delivered", "timestamp": int(time.time())}],
]


@pytest.mark.parametrize("events", SENDGRID_EVENTS)
def test_sendgrid_events_missing_fields(
    events, django_capture_on_commit_callbacks
) -> None:
    account = harness_sendgrid.make_account()
    body = json.dumps(events).encode()
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(account, body, _sendgrid(body)["headers"])
    _kept_failed(account, response)


@pytest.mark.parametrize("case", CASES)
def test_postmark_hostile_bodies(case, django_capture_on_commit_callbacks) -> None:
    account = harness_postmark.make_account()
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(account, RAW[case], _postmark(RAW[case])["headers"])
    _check(account, response)


POSTMARK_RECORDS = [
    {"RecordType": "Bounce"},
    {"RecordType": "Delivery"},
    {"RecordType": "Delivery", "MessageID": "m1", "DeliveredAt": "yesterday"},
    {"RecordType": "Bounce", "ID": "x", "Type": None, "BouncedAt": 10**30},
    {"RecordType": "SpamComplaint", "ID": [], "Email": {}},
    {"RecordType": ["Bounce"]},
    {"RecordType": "Open", "MessageID": 12},
    {"RecordType": "SubscriptionChange"},
    {
        "RecordType": "SubscriptionChange",
        "Recipient": "a@example.com",
        "ChangedAt": "2026-12-01T00:00:00Z",
    },
    {"RecordType": "Delivery", "DeliveredAt": "2026-12-01T00:00:00Z"},
    {
        "RecordType": "Bounce",
        "ID": 7,
        "BouncedAt": "2026-12-01T00:00:00Z",
        "Email": "a@example.com",
    },
]


@pytest.mark.parametrize("record", POSTMARK_RECORDS)
def test_postmark_records_missing_fields(
    record, django_capture_on_commit_callbacks
) -> None:
    account = harness_postmark.make_account()
    body = json.dumps(record).encode()
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(account, body, _postmark(body)["headers"])
    _kept_failed(account, response)


@pytest.mark.parametrize("case", CASES)
def test_mailgun_hostile_bodies(case, django_capture_on_commit_callbacks) -> None:
    account = harness_mailgun.make_account()
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(account, RAW[case], {})
    _check(account, response)


MAILGUN_DATA = [
    {},
    [],
    "x",
    None,
    1,
    {"event": "delivered"},
    {"event": "failed", "severity": "permanent"},
    {"event": "delivered", "timestamp": "soon", "id": "e1"},
    {"event": ["x"], "id": {}, "timestamp": 10**30},
    {"event": "delivered", "id": "e2", "timestamp": 1e308, "message": []},
    {"event": "delivered", "id": "e3", "timestamp": time.time()},
]


@pytest.mark.parametrize("data", MAILGUN_DATA)
def test_mailgun_events_missing_fields(
    data, django_capture_on_commit_callbacks
) -> None:
    account = harness_mailgun.make_account()
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(account, _mailgun_signed(data), {})
    _kept_failed(account, response)


SES_MESSAGES = [
    "[]",
    "1",
    '"x"',
    "null",
    "",
    "not json",
    "{}",
    json.dumps({"eventType": 7}),
    json.dumps({"eventType": "Bounce"}),
    json.dumps({"notificationType": "Delivery"}),
    json.dumps({"eventType": "Bounce", "mail": {}, "bounce": {}}),
    json.dumps({"eventType": "Delivery", "mail": [], "delivery": "x"}),
    json.dumps(
        {
            "eventType": "Bounce",
            "mail": {"messageId": "m"},
            "bounce": {"bouncedRecipients": [{}], "timestamp": 10**30},
        }
    ),
    json.dumps({"eventType": "Delivery", "mail": {"messageId": "m"}, "delivery": {}}),
    json.dumps({"eventType": "Open", "mail": {"messageId": "m"}, "open": {}}),
]


@pytest.mark.parametrize("message", SES_MESSAGES)
def test_ses_messages_missing_fields(
    message, django_capture_on_commit_callbacks
) -> None:
    account = harness_amazon_ses.make_account()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(SNS_CERT_URL, body=sns_certificate_pem())
        with django_capture_on_commit_callbacks(execute=True):
            response = _post(
                account, _sns(message), {"x-amz-sns-message-type": "Notification"}
            )
    _kept_failed(account, response)


@pytest.mark.parametrize("case", CASES)
def test_ses_hostile_bodies(case, django_capture_on_commit_callbacks) -> None:
    account = harness_amazon_ses.make_account()
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(account, RAW[case], {"x-amz-sns-message-type": "Notification"})
    _check(account, response)
