"""intake43: "nothing is lost" for the bodies still refused unstored.

Where the signature covers the raw body (Stripe signs the bytes; PayPal's
verification call takes them back byte for byte) a verified body that is not
UTF-8 or not a JSON object is stored dead as an unusable body. Where the
signature lives inside the envelope (Mailgun, SNS) a body that is no envelope
cannot be verified: it is refused 400 unstored, counted and logged as every
other refused request is."""

import hashlib
import hmac
import json
import logging
import time

import pytest

from integrations.models import WebhookEvent
from integrations.webhooks import views
from tests.integrations.intake41_helpers import (
    JUNK,
    assert_refused_unstored,
    assert_stored_unusable,
    post,
)
from tests.integrations.intake43_helpers import refusals
from tests.integrations.intake_payments import (
    STRIPE_SECRET,
    paypal_account,
    paypal_post,
    stripe_account,
)
from tests.notifications.contract import harness_amazon_ses, harness_mailgun

pytestmark = pytest.mark.django_db

NOT_UTF8 = b'{"id": "evt_1", "type": "charge.succeeded", "x": "\xff\xfe"}'


def _stripe_raw_header(body: bytes, *, secret=STRIPE_SECRET, at=None) -> str:
    """Stripe-Signature over the raw bytes, as Stripe computes it."""
    timestamp = int(time.time()) if at is None else at
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@pytest.mark.parametrize("body", [NOT_UTF8, b"\xff", b"\x80[]"])
def test_signed_stripe_body_that_is_not_utf8_is_stored_dead(body):
    account = stripe_account()
    response = post(account, body, HTTP_STRIPE_SIGNATURE=_stripe_raw_header(body))
    assert_stored_unusable(account, response, body)


def test_a_second_delivery_of_it_is_a_duplicate_of_the_stored_row():
    account = stripe_account()
    header = _stripe_raw_header(NOT_UTF8)
    post(account, NOT_UTF8, HTTP_STRIPE_SIGNATURE=header)
    again = post(account, NOT_UTF8, HTTP_STRIPE_SIGNATURE=header)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert WebhookEvent.objects.filter(account=account).count() == 1


@pytest.mark.parametrize(
    ("header", "status", "code"),
    [
        (
            lambda b: _stripe_raw_header(b, secret="whsec_guess"),
            401,
            "invalid_signature",
        ),
        (lambda b: _stripe_raw_header(b, at=int(time.time()) - 3600), 401, None),
        (lambda b: "t=now,v1=abc", 400, "malformed_request"),
        (lambda b: "v1=abc", 400, "malformed_request"),
        (lambda b: f"t={int(time.time())},v0=abc", 400, "malformed_request"),
    ],
)
def test_unverified_stripe_body_that_is_not_utf8_stays_unstored(header, status, code):
    account = stripe_account()
    before = refusals(account.slug, code) if code else 0
    response = post(account, NOT_UTF8, HTTP_STRIPE_SIGNATURE=header(NOT_UTF8))
    assert_refused_unstored(response, status)
    if code:
        assert refusals(account.slug, code) == before + 1


@pytest.mark.parametrize(
    "body", [b"[]", b'[{"id": "WH-1"}]', b"42", b'"text"', b"null"]
)
def test_verified_paypal_body_that_is_json_but_no_object_is_stored_dead(body):
    account = paypal_account()
    calls = []
    response = paypal_post(account, body, "SUCCESS", calls)
    assert_stored_unusable(account, response, body)
    # PayPal was asked about these very bytes.
    assert len(calls) == 1
    assert json.loads(calls[0])["webhook_event"] == json.loads(body)


def test_paypal_body_that_is_no_object_and_not_confirmed_stays_unstored():
    account = paypal_account()
    before = refusals(account.slug, "invalid_signature")
    assert_refused_unstored(paypal_post(account, b"[]", "FAILURE", []), 401)
    assert refusals(account.slug, "invalid_signature") == before + 1


@pytest.mark.parametrize("body", [b"", b"not json", b"\xff", b"[1,"])
def test_paypal_body_that_is_no_json_cannot_be_verified_and_is_refused(body, caplog):
    # PayPal's call takes the event inside a JSON request: bytes that are no
    # JSON cannot be sent to it, so nothing verifies them.
    caplog.set_level(logging.INFO)
    account = paypal_account()
    before = refusals(account.slug, "malformed_request")
    calls = []
    assert_refused_unstored(paypal_post(account, body, "SUCCESS", calls), 400)
    assert calls == []
    assert refusals(account.slug, "malformed_request") == before + 1
    assert "webhook rejected" in _intake_logs(caplog)


def _intake_logs(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == views.logger.name]


NO_ENVELOPE = {
    **JUNK,
    "not_utf8": b"\xff\xfe{}",
    "form": b"signature=x&token=y&timestamp=1",
    "object": b'{"event-data": {"event": "delivered"}}',
    "nested": b"[" * 50000 + b"]" * 50000,
}


@pytest.mark.parametrize("case", sorted(NO_ENVELOPE))
@pytest.mark.parametrize("harness", [harness_mailgun, harness_amazon_ses])
def test_body_that_is_no_signed_envelope_is_refused_counted_and_logged(
    harness, case, caplog
):
    # The signature lives inside the envelope: nothing can be verified, so
    # nothing is stored (free storage for anyone), but the refusal is seen.
    caplog.set_level(logging.INFO)
    account = harness.make_account()
    before = refusals(account.slug, "malformed_request")
    response = post(account, NO_ENVELOPE[case])
    assert_refused_unstored(response, 400)
    assert response.json()["error"]["code"] == "malformed_request"
    assert refusals(account.slug, "malformed_request") == before + 1
    assert _intake_logs(caplog) == ["webhook rejected"]
