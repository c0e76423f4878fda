"""Contract harness for Square: ``responses`` answers built from the examples
in Square's published OpenAPI document (tests/fixtures/square/)."""

import json
import uuid
from pathlib import Path

import requests
from urllib3.exceptions import NewConnectionError

from integrations.models import ProviderAccount
from payments.providers.base import (
    CaptureRequest,
    PaymentEventKind,
    PaymentRequest,
    RefundRequest,
)
from payments.providers.square import sign_webhook
from tests.factories import ProviderAccountFactory
from tests.payments.contract.harness import Webhook

PROVIDER = "square"
DECLINE_KINDS = (
    "card_declined",
    "insufficient_funds",
    "expired_card",
    "incorrect_cvc",
    "incorrect_number",
    "authentication_required",
)
NOT_APPLICABLE = {
    "webhook_stale": (
        "Square signs no timestamp: x-square-hmacsha256-signature covers only the "
        "notification URL and body, and Square retries a delivery for up to 72 "
        "hours; a replay is caught by its event_id (the dedupe key)"
    ),
}

SANDBOX = "https://connect.squareupsandbox.com"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "square"
SIGNATURE_KEY = "contract-square-signature-key"
PAYMENT_ID = "R2B3Z8WMVt3EAmzYWLZvz7Y69EbZY"
_DECLINE_CODES = {
    "card_declined": "GENERIC_DECLINE",
    "insufficient_funds": "INSUFFICIENT_FUNDS",
    "expired_card": "CARD_EXPIRED",
    "incorrect_cvc": "CVV_FAILURE",
    "incorrect_number": "INVALID_CARD",
    "authentication_required": "CARD_DECLINED_VERIFICATION_REQUIRED",
}


def _load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def _error(code: str) -> dict:
    return _load("errors.json")[code]


def make_account() -> ProviderAccount:
    return ProviderAccountFactory(
        provider="square",
        slug="contract-square",
        mode="test",
        settings={"location_id": "L88917AVBK2S5"},
        credentials={
            "access_token": "EAAAl-contract-square-token",
            "webhook_signature_key": SIGNATURE_KEY,
        },
    )


def _request() -> PaymentRequest:
    return PaymentRequest(
        amount=1000,
        currency="USD",
        source_token="cnon:card-nonce-ok",
        capture=False,
        idempotency_key=uuid.uuid4().hex,
        order_id="order-contract",
    )


def _create_answers(rsps, **kwargs: object) -> PaymentRequest:
    rsps.post(f"{SANDBOX}/v2/payments", **kwargs)
    return _request()


def success_authorize(rsps, account) -> PaymentRequest:
    return _create_answers(rsps, json=_load("create_payment_approved.json"))


def success_capture(rsps, account) -> CaptureRequest:
    rsps.get(
        f"{SANDBOX}/v2/payments/{PAYMENT_ID}",
        json=_load("create_payment_approved.json"),
    )
    rsps.post(
        f"{SANDBOX}/v2/payments/{PAYMENT_ID}/complete",
        json=_load("create_payment.json"),
    )
    return CaptureRequest(
        provider_reference=PAYMENT_ID,
        amount=1000,
        currency="USD",
        idempotency_key=uuid.uuid4().hex,
    )


def decline(rsps, account, kind: str) -> PaymentRequest:
    return _create_answers(rsps, status=402, json=_error(_DECLINE_CODES[kind]))


def bad_request_400(rsps, account) -> PaymentRequest:
    return _create_answers(rsps, status=400, json=_error("MISSING_REQUIRED_PARAMETER"))


def unauthorized_401(rsps, account) -> PaymentRequest:
    return _create_answers(rsps, status=401, json=_error("UNAUTHORIZED"))


def payment_required_402(rsps, account) -> PaymentRequest:
    return _create_answers(rsps, status=402, json=_error("TRANSACTION_LIMIT"))


def idempotency_conflict(rsps, account) -> PaymentRequest:
    return _create_answers(rsps, status=400, json=_error("IDEMPOTENCY_KEY_REUSED"))


def rate_limited_429(rsps, account) -> PaymentRequest:
    return _create_answers(
        rsps, status=429, json=_error("RATE_LIMITED"), headers={"Retry-After": "30"}
    )


def server_error_500(rsps, account) -> PaymentRequest:
    return _create_answers(rsps, status=500, json=_error("INTERNAL_SERVER_ERROR"))


def read_timeout(rsps, account) -> PaymentRequest:
    return _create_answers(rsps, body=requests.ReadTimeout("read timed out"))


def connection_refused(rsps, account) -> PaymentRequest:
    refused = NewConnectionError(None, "Failed to establish a new connection")
    return _create_answers(rsps, body=requests.ConnectionError(refused))


def malformed_json(rsps, account) -> PaymentRequest:
    return _create_answers(rsps, body='{"payment": {"id": "R2B3Z8WMVt3E", "status": ')


def refund_partial(rsps, account) -> RefundRequest:
    answer = _load("refund_payment.json")
    answer["refund"]["amount_money"] = {"amount": 400, "currency": "USD"}
    rsps.post(f"{SANDBOX}/v2/refunds", json=answer)
    return RefundRequest(
        provider_reference=PAYMENT_ID,
        amount=400,
        currency="USD",
        idempotency_key=uuid.uuid4().hex,
        reason="Example",
    )


def _event_body() -> bytes:
    event = _load("webhook_payment_updated.json")
    event["event_id"] = str(uuid.uuid4())
    return json.dumps(event).encode()


def webhook_valid(rsps, account) -> Webhook:
    body = _event_body()
    url = Webhook.__dataclass_fields__["url"].default
    signature = sign_webhook(key=SIGNATURE_KEY, notification_url=url, body=body)
    return Webhook(
        body=body,
        headers={"x-square-hmacsha256-signature": signature},
        url=url,
        kind=PaymentEventKind.SUCCEEDED,
        reference="hYy9pRFVxpDsO1FB05SunFWUe9JZY",
    )


def webhook_forged(rsps, account) -> Webhook:
    body = _event_body()
    url = Webhook.__dataclass_fields__["url"].default
    signature = sign_webhook(key="not-the-key", notification_url=url, body=body)
    return Webhook(body=body, headers={"x-square-hmacsha256-signature": signature})


def webhook_stale(rsps, account) -> Webhook:
    raise NotImplementedError(NOT_APPLICABLE["webhook_stale"])
