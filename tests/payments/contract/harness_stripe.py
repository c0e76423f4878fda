"""Contract harness for Stripe: ``responses`` answers shaped like Stripe's
published examples (tests/fixtures/stripe/), sent through the SDK, which the
adapter routes over the account's ProviderClient session."""

import json
import time
import uuid
from pathlib import Path

import requests
import stripe
from urllib3.exceptions import NewConnectionError

from integrations.models import ProviderAccount
from payments.providers.base import (
    CaptureRequest,
    PaymentEventKind,
    PaymentRequest,
    RefundRequest,
)
from tests.factories import ProviderAccountFactory
from tests.payments.contract.harness import Webhook

PROVIDER = "stripe"
DECLINE_KINDS = (
    "card_declined",
    "insufficient_funds",
    "expired_card",
    "incorrect_cvc",
    "incorrect_number",
    "lost_or_stolen",
    "fraudulent",
    "processing_error",
    "authentication_required",
)
NOT_APPLICABLE: dict[str, str] = {}
# Stripe replays a POST by its Idempotency-Key, 500s included, so a 500 may
# stand for a charge that happened: unknown, never failed over.
SERVER_ERROR_OUTCOME = "unknown"

API = "https://api.stripe.com"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "stripe"
WEBHOOK_SECRET = "whsec_contract_stripe_secret"
REFERENCE = "pi_1PgafyB7WZ01zgkWSjxsAJo3"
_DECLINE_FIXTURES = {
    "card_declined": "generic_decline",
    "insufficient_funds": "insufficient_funds",
    "expired_card": "expired_card",
    "incorrect_cvc": "incorrect_cvc",
    "incorrect_number": "incorrect_number",
    "lost_or_stolen": "stolen_card",
    "fraudulent": "fraudulent",
    "processing_error": "processing_error",
    "authentication_required": "authentication_required",
}


def _load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def _error(name: str) -> dict:
    return _load("errors.json")[name]


def _intent(**changes: object) -> dict:
    body = _load("payment_intent.json")
    body.update(changes)
    return body


def make_account() -> ProviderAccount:
    return ProviderAccountFactory(
        provider="stripe",
        slug="contract-stripe",
        mode="test",
        credentials={
            "secret_key": "sk_test_51ContractStripeKey",
            "webhook_secret": WEBHOOK_SECRET,
        },
    )


def _request(**overrides: object) -> PaymentRequest:
    values: dict = {
        "amount": 1050,
        "currency": "EUR",
        "source_token": "pm_1Pgc75B7WZ01zgkWlHVgdEGJ",
        "capture": False,
        "idempotency_key": uuid.uuid4().hex,
        "order_id": "order-contract",
    }
    values.update(overrides)
    return PaymentRequest(**values)


def _create_answers(rsps, **kwargs: object) -> PaymentRequest:
    rsps.post(f"{API}/v1/payment_intents", **kwargs)
    return _request()


def success_authorize(rsps, account) -> PaymentRequest:
    answer = _intent(status="requires_capture", amount=1050, amount_capturable=1050)
    return _create_answers(rsps, json=dict(answer, amount_received=0))


def success_capture(rsps, account) -> CaptureRequest:
    rsps.post(
        f"{API}/v1/payment_intents/{REFERENCE}/capture",
        json=_intent(amount=1050, amount_received=1000),
    )
    return CaptureRequest(
        provider_reference=REFERENCE,
        amount=1000,
        currency="EUR",
        idempotency_key=uuid.uuid4().hex,
    )


def decline(rsps, account, kind: str) -> PaymentRequest:
    return _create_answers(rsps, status=402, json=_error(_DECLINE_FIXTURES[kind]))


def bad_request_400(rsps, account) -> PaymentRequest:
    return _create_answers(rsps, status=400, json=_error("parameter_missing"))


def unauthorized_401(rsps, account) -> PaymentRequest:
    return _create_answers(rsps, status=401, json=_error("invalid_api_key"))


def payment_required_402(rsps, account) -> PaymentRequest:
    return _create_answers(rsps, status=402, json=_error("do_not_honor"))


def idempotency_conflict(rsps, account) -> PaymentRequest:
    return _create_answers(rsps, status=400, json=_error("idempotency_error"))


def rate_limited_429(rsps, account) -> PaymentRequest:
    return _create_answers(
        rsps, status=429, json=_error("rate_limit"), headers={"Retry-After": "30"}
    )


def server_error_500(rsps, account) -> PaymentRequest:
    return _create_answers(rsps, status=500, json=_error("api_error"))


def read_timeout(rsps, account) -> PaymentRequest:
    return _create_answers(rsps, body=requests.ReadTimeout("read timed out"))


def connection_refused(rsps, account) -> PaymentRequest:
    refused = NewConnectionError(None, "Failed to establish a new connection")
    return _create_answers(rsps, body=requests.ConnectionError(refused))


def malformed_json(rsps, account) -> PaymentRequest:
    return _create_answers(
        rsps, body='{"id": "pi_1PgafyB7WZ01zgkWSjxsAJo3", "status": '
    )


def refund_partial(rsps, account) -> RefundRequest:
    rsps.post(f"{API}/v1/refunds", json=dict(_load("refund.json"), amount=500))
    return RefundRequest(
        provider_reference=REFERENCE,
        amount=500,
        currency="EUR",
        idempotency_key=uuid.uuid4().hex,
        reason="requested_by_customer",
    )


def _event_body() -> bytes:
    event = _load("event.json")
    event.update(
        id=f"evt_{uuid.uuid4().hex[:24]}",
        type="payment_intent.succeeded",
        data={"object": _intent()},
    )
    return json.dumps(event).encode()


def _signed(body: bytes, *, secret: str, timestamp: int | None = None) -> dict:
    header = stripe.WebhookSignature.generate_signature_header(
        body.decode(), secret, timestamp=timestamp
    )
    return {"Stripe-Signature": header}


def webhook_valid(rsps, account) -> Webhook:
    body = _event_body()
    return Webhook(
        body=body,
        headers=_signed(body, secret=WEBHOOK_SECRET),
        kind=PaymentEventKind.SUCCEEDED,
        reference=REFERENCE,
    )


def webhook_forged(rsps, account) -> Webhook:
    body = _event_body()
    return Webhook(body=body, headers=_signed(body, secret="whsec_not_ours"))


def webhook_stale(rsps, account) -> Webhook:
    body = _event_body()
    old = int(time.time()) - 600
    return Webhook(
        body=body, headers=_signed(body, secret=WEBHOOK_SECRET, timestamp=old)
    )
