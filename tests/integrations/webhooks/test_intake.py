"""POST /webhooks/<slug>/ through the real URL, middleware and adapter."""

import io
import json
import time

import pytest
from django.test import RequestFactory
from django.urls import reverse
from prometheus_client import REGISTRY

from integrations.models import Event, WebhookEvent, WebhookStatus
from integrations.webhooks.views import webhook_receive
from tests.factories import ProviderAccountFactory
from tests.integrations.webhooks import handlers
from tests.integrations.webhooks.conftest import make_body, sw_headers

pytestmark = pytest.mark.django_db


def _rejections(slug: str, code: str) -> float:
    value = REGISTRY.get_sample_value(
        "switchyard_webhook_requests_total", {"account": slug, "result": code}
    )
    return value or 0.0


def _error(response) -> dict:
    return response.json()["error"]


def test_good_webhook_is_stored_answered_and_processed_after_commit(
    account, post_webhook, django_capture_on_commit_callbacks
):
    body = make_body(id="pay_1")
    headers = sw_headers(body, webhook_id="msg_good")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post_webhook("sbx-pay", body, headers)
    assert response.status_code == 200
    assert response.json() == {"received": True, "duplicate": False}
    event = WebhookEvent.objects.get()
    assert (event.account, event.event_type, event.dedupe_key) == (
        account,
        "payment.succeeded",
        "msg_good",
    )
    assert bytes(event.raw_body) == body
    assert event.payload["data"] == {"id": "pay_1"}
    assert event.occurred_at.isoformat() == "2025-01-02T03:04:05+00:00"
    assert event.correlation_id == response["X-Correlation-ID"]
    assert len(callbacks) == 1
    event.refresh_from_db()
    assert event.status == WebhookStatus.PROCESSED
    assert event.attempts == 1 and event.processed_at is not None
    assert handlers.calls == [(event.pk, "payment.succeeded", 1)]


def test_nothing_is_processed_before_commit(account, post_webhook):
    # The test transaction never commits, so the on-commit task never runs.
    body = make_body()
    assert post_webhook("sbx-pay", body, sw_headers(body)).status_code == 200
    assert WebhookEvent.objects.get().status == WebhookStatus.RECEIVED
    assert handlers.calls == []


def test_only_safe_headers_are_stored(account, post_webhook):
    body = make_body()
    headers = sw_headers(body, webhook_id="msg_hdr") | {
        "HTTP_AUTHORIZATION": "Bearer sk_live_secret",
        "HTTP_COOKIE": "sessionid=abc",
        "HTTP_X_API_KEY": "k",
        "HTTP_X_SHOP_TOKEN": "t",
        "HTTP_USER_AGENT": "Sender/1.0",
    }
    post_webhook("sbx-pay", body, headers)
    stored = WebhookEvent.objects.get().headers
    assert stored["webhook-id"] == "msg_hdr"
    assert stored["user-agent"] == "Sender/1.0"
    assert "webhook-timestamp" in stored
    for name in ("authorization", "cookie", "x-api-key", "x-shop-token"):
        assert name not in stored
    assert "webhook-signature" not in stored
    assert "sk_live_secret" not in json.dumps(stored)


def test_duplicate_gets_2xx_one_row_and_is_processed_once(
    account, post_webhook, django_capture_on_commit_callbacks
):
    body = make_body()
    headers = sw_headers(body, webhook_id="msg_dup")
    with django_capture_on_commit_callbacks(execute=True):
        first = post_webhook("sbx-pay", body, headers)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        second = post_webhook("sbx-pay", body, sw_headers(body, webhook_id="msg_dup"))
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json() == {"received": True, "duplicate": True}
    assert callbacks == []
    assert WebhookEvent.objects.count() == 1
    assert len(handlers.calls) == 1


def test_same_id_on_another_account_is_not_a_duplicate(account, post_webhook):
    ProviderAccountFactory(slug="sbx-pay-2")
    body = make_body()
    post_webhook("sbx-pay", body, sw_headers(body, webhook_id="msg_x"))
    post_webhook("sbx-pay-2", body, sw_headers(body, webhook_id="msg_x"))
    assert WebhookEvent.objects.count() == 2


@pytest.mark.parametrize(
    ("tamper", "status", "code"),
    [
        ("forged", 401, "invalid_signature"),
        ("stale", 401, "timestamp_out_of_tolerance"),
        ("future", 401, "timestamp_out_of_tolerance"),
        ("no_signature", 400, "missing_header"),
        ("bad_timestamp", 400, "malformed_request"),
        ("bad_signature_header", 400, "malformed_request"),
    ],
)
def test_bad_requests_get_clear_4xx_and_store_nothing(
    account, post_webhook, tamper, status, code
):
    body = make_body()
    now = int(time.time())
    headers = {
        "forged": sw_headers(body, secret="whsec_b3RoZXJzZWNyZXQ="),
        "stale": sw_headers(body, timestamp=now - 301 - 5),
        "future": sw_headers(body, timestamp=now + 301 + 5),
        "no_signature": {
            k: v for k, v in sw_headers(body).items() if "SIGNATURE" not in k
        },
        "bad_timestamp": sw_headers(body) | {"HTTP_WEBHOOK_TIMESTAMP": "yesterday"},
        "bad_signature_header": sw_headers(body) | {"HTTP_WEBHOOK_SIGNATURE": "x"},
    }[tamper]
    before = _rejections("sbx-pay", code)
    response = post_webhook("sbx-pay", body, headers)
    assert response.status_code == status
    error = _error(response)
    assert error["code"] == code and error["message"]
    assert set(error) == {"type", "code", "message", "param"}
    assert WebhookEvent.objects.count() == 0
    assert _rejections("sbx-pay", code) == before + 1


def test_signed_body_changed_in_transit_is_forged(account, post_webhook):
    body = make_body(amount=100)
    response = post_webhook("sbx-pay", make_body(amount=999), sw_headers(body))
    assert response.status_code == 401
    assert WebhookEvent.objects.count() == 0


def test_missing_secret_is_refused_not_passed(db, post_webhook):
    ProviderAccountFactory(slug="no-secret", credentials={"api_key": "sbx_k"})
    body = make_body()
    response = post_webhook("no-secret", body, sw_headers(body))
    assert response.status_code == 503
    assert _error(response)["code"] == "webhook_secret_missing"
    assert "whsec" not in response.content.decode()
    assert WebhookEvent.objects.count() == 0


@pytest.mark.parametrize(
    "body", [b"not json", b"[1, 2]", b'{"data": {}}', b'{"type": 5}', b"\xff\xfe"]
)
def test_signed_but_malformed_body_is_stored_dead_and_answered_200(
    account, post_webhook, body
):
    # intake41: it was a 400 storing nothing, and the sender's retries met the
    # same 400; a signed body is kept, dead with its error, for staff.
    response = post_webhook("sbx-pay", body, sw_headers(body))
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.status, bytes(event.raw_body)) == (WebhookStatus.DEAD, body)
    assert "malformed_request" in event.last_error


def test_oversized_body_is_413_by_content_length(account, post_webhook, settings):
    settings.WEBHOOK_MAX_BYTES = 64
    body = make_body(padding="x" * 100)
    response = post_webhook("sbx-pay", body, sw_headers(body))
    assert response.status_code == 413
    assert _error(response)["code"] == "payload_too_large"
    assert WebhookEvent.objects.count() == 0


def test_body_at_the_limit_is_accepted(account, post_webhook, settings):
    body = make_body()
    settings.WEBHOOK_MAX_BYTES = len(body)
    assert post_webhook("sbx-pay", body, sw_headers(body)).status_code == 200


def test_oversized_body_is_413_by_actual_read(account, settings):
    # A body longer than its declared length (a proxy that dropped the header,
    # chunked upload) is caught by the bounded read, not trusted.
    settings.WEBHOOK_MAX_BYTES = 64
    body = make_body(padding="x" * 100)
    request = RequestFactory().post(
        "/webhooks/sbx-pay/",
        data=b"",
        content_type="application/json",
        **sw_headers(body),
    )
    request._stream = io.BytesIO(body)
    response = webhook_receive(request, account_slug="sbx-pay")
    assert response.status_code == 413
    assert WebhookEvent.objects.count() == 0


def test_invalid_content_length_is_400(account, post_webhook):
    body = make_body()
    response = post_webhook(
        "sbx-pay", body, sw_headers(body) | {"CONTENT_LENGTH": "lots"}
    )
    assert response.status_code == 400


def test_unknown_and_disabled_accounts_are_404(db, post_webhook):
    ProviderAccountFactory(slug="off", enabled=False)
    body = make_body()
    for slug in ("nope", "off"):
        response = post_webhook(slug, body, sw_headers(body))
        assert response.status_code == 404
        assert _error(response)["code"] == "unknown_account"
    assert WebhookEvent.objects.count() == 0


def test_get_is_405(account, client):
    response = client.get("/webhooks/sbx-pay/")
    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_event_type_without_handler_is_processed_with_a_note(
    account, post_webhook, django_capture_on_commit_callbacks
):
    body = make_body("refund.updated")
    with django_capture_on_commit_callbacks(execute=True):
        post_webhook("sbx-pay", body, sw_headers(body))
    event = WebhookEvent.objects.get()
    assert (event.status, event.note) == (WebhookStatus.PROCESSED, "no handler")
    assert handlers.calls == []


def test_handler_writes_commit_with_the_processed_status(
    account, post_webhook, django_capture_on_commit_callbacks, settings
):
    settings.SWITCHYARD_WEBHOOK_HANDLERS = {
        "payments": {
            "payment.succeeded": "tests.integrations.webhooks.handlers.record_and_emit"
        }
    }
    body = make_body()
    with django_capture_on_commit_callbacks(execute=True):
        post_webhook("sbx-pay", body, sw_headers(body, webhook_id="msg_w"))
    assert Event.objects.filter(name="test.handled", subject="msg_w").count() == 1


@pytest.mark.parametrize("number", [b"1e400", b"-1e400", b"NaN", b"Infinity"])
def test_a_signed_webhook_with_a_number_no_column_holds_is_stored_dead(number):
    # jsonb refuses Infinity and NaN: it was a 500, and the provider retried;
    # then a 400 storing nothing. Now its raw bytes are kept, dead (intake41).
    from django.test import Client

    ProviderAccountFactory(slug="sbx-pay")
    body = (
        b'{"type":"payment.succeeded","timestamp":"2025-01-02T03:04:05Z",'
        b'"data":{"id":"pi_1","amount":' + number + b"}}"
    )
    response = Client(raise_request_exception=False).post(
        "/webhooks/sbx-pay/", body, content_type="application/json", **sw_headers(body)
    )

    assert response.status_code == 200, response.content[:200]
    event = WebhookEvent.objects.get()
    assert (event.status, bytes(event.raw_body)) == (WebhookStatus.DEAD, body)


@pytest.mark.parametrize(
    "stamp", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"]
)
def test_an_event_time_outside_what_utc_can_hold_is_stored_without_a_time(
    account, post_webhook, django_capture_on_commit_callbacks, stamp
):
    # Valid ISO 8601, but past year 9999 (or before year 1) once in UTC: the
    # database would store it and the driver could never read it back.
    body = json.dumps(
        {"type": "payment.succeeded", "timestamp": stamp, "data": {"id": "p"}}
    ).encode()
    with django_capture_on_commit_callbacks(execute=True):
        response = post_webhook("sbx-pay", body, sw_headers(body))
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.occurred_at is None
    assert event.status == WebhookStatus.PROCESSED


def test_the_admin_shows_an_event_stamped_an_hour_before_year_10000(
    account, post_webhook, django_capture_on_commit_callbacks, admin_client, settings
):
    # In range in UTC, but year 10000 in Tokyo (TIME_ZONE is an env setting):
    # the admin's local time of it raised OverflowError, a 500.
    settings.TIME_ZONE = "Asia/Tokyo"
    body = json.dumps(
        {
            "type": "payment.succeeded",
            "timestamp": "9999-12-31T23:00:00Z",
            "data": {"id": "p"},
        }
    ).encode()
    with django_capture_on_commit_callbacks(execute=True):
        assert post_webhook("sbx-pay", body, sw_headers(body)).status_code == 200
    event = WebhookEvent.objects.get()
    url = reverse("admin:integrations_webhookevent_change", args=[event.pk])

    assert admin_client.get(url).status_code == 200
