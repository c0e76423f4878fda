"""Contract harness for PayPal: ``responses`` answers built from PayPal's
published Orders v2, Payments v2 and Webhooks v1 specs (tests/fixtures/paypal/).

Every scenario starts the way a real PayPal charge does: the token endpoint
answers, then the approved order is read; the scenario's answer is that of the
money-moving call (or of the order read, for 401 and transport faults)."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

from integrations.models import ProviderAccount
from payments.providers.base import (
    CaptureRequest,
    PaymentEventKind,
    PaymentRequest,
    RefundRequest,
)
from tests.factories import ProviderAccountFactory
from tests.payments.contract.harness import Webhook

PROVIDER = "paypal"
DECLINE_KINDS = (
    "card_declined",
    "insufficient_funds",
    "expired_card",
    "incorrect_cvc",
    "incorrect_number",
    "lost_or_stolen",
    "fraudulent",
    "authentication_required",
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "paypal"
BASE = "https://api-m.sandbox.paypal.com"
ORDER = "5O190127TN364715T"
AUTH = "0VF52814937998046"
CAPTURE = "3C679366HH908993F"
ORDER_URL = f"{BASE}/v2/checkout/orders/{ORDER}"
WEBHOOK_ID = "1JE4291016473214C"
# 422 issues and processor response codes (a DECLINED capture in a 201).
_ISSUES = {
    "card_declined": "error_instrument_declined.json",
    "expired_card": "error_card_expired.json",
    "fraudulent": "error_compliance_violation.json",
    "authentication_required": "error_payer_action_required.json",
}
_PROCESSOR_CODES = {
    "insufficient_funds": "5120",
    "incorrect_cvc": "5110",
    "incorrect_number": "1330",
    "lost_or_stolen": "9520",
}


def _load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def make_account() -> ProviderAccount:
    return ProviderAccountFactory(
        provider=PROVIDER,
        settings={"webhook_id": WEBHOOK_ID, "backoff_base_seconds": 0.001},
        credentials={
            "client_id": "contract-client",
            "client_secret": "contract-secret",
        },
    )


def _token(rsps) -> None:
    rsps.post(f"{BASE}/v1/oauth2/token", json=_load("oauth_token.json"))


def _approved(rsps, intent: str = "CAPTURE") -> None:
    _token(rsps)
    name = (
        "order_approved_capture.json"
        if intent == "CAPTURE"
        else ("order_approved_authorize.json")
    )
    rsps.get(ORDER_URL, json=_load(name))


def _payment(capture: bool = True) -> PaymentRequest:
    return PaymentRequest(
        amount=1050,
        currency="USD",
        source_token=ORDER,
        capture=capture,
        idempotency_key="contract-pay-1",
        order_id="order-1001",
    )


def _capture_answers(rsps, status: int, **kwargs) -> PaymentRequest:
    _approved(rsps)
    rsps.post(f"{ORDER_URL}/capture", status=status, **kwargs)
    return _payment()


def success_authorize(rsps, account) -> PaymentRequest:
    _approved(rsps, "AUTHORIZE")
    rsps.post(f"{ORDER_URL}/authorize", status=201, json=_load("order_authorized.json"))
    return _payment(capture=False)


def success_capture(rsps, account) -> CaptureRequest:
    _token(rsps)
    rsps.get(ORDER_URL, json=_load("order_authorized.json"))
    rsps.post(
        f"{BASE}/v2/payments/authorizations/{AUTH}/capture",
        status=201,
        json=_load("authorization_capture.json"),
    )
    return CaptureRequest(
        provider_reference=ORDER,
        amount=650,
        currency="USD",
        idempotency_key="contract-cap-1",
    )


def decline(rsps, account, kind: str) -> PaymentRequest:
    if kind in _ISSUES:
        return _capture_answers(rsps, 422, json=_load(_ISSUES[kind]))
    order = _load("order_capture_declined.json")
    capture = order["purchase_units"][0]["payments"]["captures"][0]
    capture["processor_response"]["response_code"] = _PROCESSOR_CODES[kind]
    return _capture_answers(rsps, 201, json=order)


def bad_request_400(rsps, account) -> PaymentRequest:
    return _capture_answers(rsps, 400, json=_load("error_invalid_request.json"))


def unauthorized_401(rsps, account) -> PaymentRequest:
    # A revoked token: refreshed once, and refused again.
    _token(rsps)
    rsps.get(ORDER_URL, status=401, json=_load("error_authentication_failure.json"))
    return _payment()


def payment_required_402(rsps, account) -> PaymentRequest:
    return _capture_answers(rsps, 402, json=_load("error_payment_required.json"))


def idempotency_conflict(rsps, account) -> PaymentRequest:
    return _capture_answers(rsps, 409, json=_load("error_conflict.json"))


def rate_limited_429(rsps, account) -> PaymentRequest:
    return _capture_answers(
        rsps, 429, json=_load("error_rate_limit.json"), headers={"Retry-After": "30"}
    )


def server_error_500(rsps, account) -> PaymentRequest:
    return _capture_answers(rsps, 500, json=_load("error_internal.json"))


def read_timeout(rsps, account) -> PaymentRequest:
    _approved(rsps)
    rsps.post(f"{ORDER_URL}/capture", body=requests.ReadTimeout("read timed out"))
    return _payment()


def connection_refused(rsps, account) -> PaymentRequest:
    _token(rsps)
    reason = NewConnectionError(None, "Failed to establish a new connection: refused")
    rsps.get(ORDER_URL, body=requests.ConnectionError(MaxRetryError(None, "/", reason)))
    return _payment()


def malformed_json(rsps, account) -> PaymentRequest:
    return _capture_answers(rsps, 201, body='{"id": "5O190127TN364715T", "status": ')


def refund_partial(rsps, account) -> RefundRequest:
    _token(rsps)
    rsps.get(ORDER_URL, json=_load("order_captured.json"))
    rsps.post(
        f"{BASE}/v2/payments/captures/{CAPTURE}/refund",
        status=201,
        json=_load("refund_completed.json"),
    )
    return RefundRequest(
        provider_reference=ORDER,
        amount=400,
        currency="USD",
        idempotency_key="contract-refund-1",
    )


def _transmission(sent: datetime) -> dict[str, str]:
    return {
        "PAYPAL-AUTH-ALGO": "SHA256withRSA",
        "PAYPAL-CERT-URL": "https://api.sandbox.paypal.com/v1/notifications/certs/"
        "CERT-360caa42-fca2a594-a5cafa77",
        "PAYPAL-TRANSMISSION-ID": "69cd13f0-d67a-11e5-baa3-778b53f4ae55",
        "PAYPAL-TRANSMISSION-SIG": "lmI95Jx3Y9nhR5SJWlHVIWpg4AgFk7n9bCHSRxbrd8A9zrh"
        "du2rMyFrmz+Zjh3s3boXB07VXCXUZy/UFzUlnGJn0wDugt7FlSvdKeIJenLRemUxYCPVoEZzg9V",
        "PAYPAL-TRANSMISSION-TIME": sent.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _webhook(rsps, verdict: str, sent: datetime, **expected) -> Webhook:
    _token(rsps)
    rsps.post(f"{BASE}/v1/notifications/verify-webhook-signature", json=_load(verdict))
    return Webhook(
        body=(FIXTURES / "event_capture_completed.json").read_bytes(),
        headers=_transmission(sent),
        **expected,
    )


def webhook_valid(rsps, account) -> Webhook:
    return _webhook(
        rsps,
        "verify_success.json",
        datetime.now(UTC),
        kind=PaymentEventKind.SUCCEEDED,
        reference=ORDER,
    )


def webhook_forged(rsps, account) -> Webhook:
    return _webhook(rsps, "verify_failure.json", datetime.now(UTC))


def webhook_stale(rsps, account) -> Webhook:
    # PayPal signs the transmission time and retries for about three days:
    # a time older than that period is a replay.
    old = datetime.now(UTC) - timedelta(days=5)
    return _webhook(rsps, "verify_success.json", old)
