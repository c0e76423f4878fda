"""intake44: PayPal's verification call takes the event back inside a JSON
request, byte for byte. A body that Python reads as JSON but that cannot go
into that request as sent (a UTF-8 BOM, UTF-16 or UTF-32) goes as its text in
UTF-8 (hooks46: so a forged one is refused as forged, 401), never as its raw
bytes (PayPal would refuse the request, which we answered 503, and PayPal
retried for three days); confirmed, it is refused 400 in the error shape,
counted and logged. The event goes to PayPal exactly as sent, whitespace
included."""

import codecs
import json
import logging

import pytest
import responses

from integrations.webhooks import views
from tests.integrations.intake41_helpers import assert_refused_unstored, post
from tests.integrations.intake43_helpers import refusals
from tests.integrations.intake_payments import (
    PAYPAL_BASE,
    PAYPAL_VERIFY_URL,
    paypal_account,
    paypal_headers,
)

pytestmark = pytest.mark.django_db

EVENT = json.dumps(
    {
        "id": "WH-44",
        "event_type": "PAYMENT.CAPTURE.COMPLETED",
        "create_time": "2026-12-01T10:00:00Z",
        "resource": {"id": "CAP-1"},
    }
)


def _verify(request):
    """PayPal's side: its request is JSON in UTF-8 (RFC 8259), or it is
    refused as invalid."""
    try:
        json.loads(request.body.decode("utf-8"))
    except ValueError:
        return 400, {}, json.dumps({"name": "INVALID_REQUEST"})
    return 200, {}, json.dumps({"verification_status": "SUCCESS"})


def _post(account, body: bytes, calls: list):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(
            f"{PAYPAL_BASE}/v1/oauth2/token",
            json={"access_token": "A21", "token_type": "Bearer", "expires_in": 3600},
        )
        rsps.add_callback("POST", PAYPAL_VERIFY_URL, callback=_verify)
        response = post(account, body, **paypal_headers())
        calls.extend(
            c.request.body for c in rsps.calls if c.request.url == PAYPAL_VERIFY_URL
        )
    return response


NOT_SENDABLE = {
    "utf8_bom": codecs.BOM_UTF8 + EVENT.encode(),
    "utf16": EVENT.encode("utf-16"),
    "utf16_le_no_bom": EVENT.encode("utf-16-le"),
    "utf16_be_no_bom": EVENT.encode("utf-16-be"),
    "utf32": EVENT.encode("utf-32"),
}


@pytest.mark.parametrize("case", sorted(NOT_SENDABLE))
def test_a_body_not_in_utf8_paypal_confirmed_is_refused_400(case, caplog):
    caplog.set_level(logging.INFO)
    account = paypal_account()
    before = refusals(account.slug, "malformed_request")
    calls = []

    response = _post(account, NOT_SENDABLE[case], calls)

    assert_refused_unstored(response, 400)
    error = response.json()["error"]
    assert error["code"] == "malformed_request"
    assert set(error) == {"type", "code", "message", "param"}
    assert "UTF-8" in error["message"]
    # Asked about its text in UTF-8, which PayPal's request takes (not 503).
    [sent] = calls
    assert sent.endswith(b',"webhook_event":' + EVENT.encode() + b"}")
    assert refusals(account.slug, "malformed_request") == before + 1
    logged = [r.getMessage() for r in caplog.records if r.name == views.logger.name]
    assert logged == ["webhook rejected"]


@pytest.mark.parametrize(
    "body",
    [
        EVENT.encode() + b"\n",
        b"\r\n  " + EVENT.encode() + b" \t\r\n",
        json.dumps(json.loads(EVENT), indent=2).encode(),
    ],
)
def test_paypal_is_asked_about_the_event_exactly_as_sent(body):
    account = paypal_account()
    calls = []

    response = _post(account, body, calls)

    assert response.status_code == 200, response.content
    [sent] = calls
    assert sent.endswith(b',"webhook_event":' + body + b"}")


def test_a_plain_utf8_event_is_verified_and_stored():
    account = paypal_account()
    calls = []
    response = _post(account, EVENT.encode(), calls)
    assert response.status_code == 200, response.content
    assert len(calls) == 1
    assert account.webhook_events.get().dedupe_key == "WH-44"
