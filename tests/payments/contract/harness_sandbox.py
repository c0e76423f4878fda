"""Contract harness for the sandbox gateway: outcomes are chosen by test
tokens and account settings (payments/providers/sandbox.py), not HTTP."""

import json
import time
import uuid

from integrations import registry
from integrations.models import ProviderAccount
from integrations.webhooks.verification import signed_headers
from payments.providers.base import (
    CaptureRequest,
    PaymentEventKind,
    PaymentRequest,
    RefundRequest,
)
from tests.factories import ProviderAccountFactory
from tests.payments.contract.harness import Webhook

PROVIDER = "sandbox"
DECLINE_KINDS = (
    "card_declined",
    "insufficient_funds",
    "expired_card",
    "incorrect_cvc",
    "fraudulent",
    "lost_or_stolen",
)
_TOKENS = {
    "card_declined": "tok_decline",
    "insufficient_funds": "tok_insufficient_funds",
    "expired_card": "tok_expired_card",
    "incorrect_cvc": "tok_incorrect_cvc",
    "fraudulent": "tok_fraudulent",
    "lost_or_stolen": "tok_lost_card",
}
NOT_APPLICABLE = {
    "malformed_json": "the sandbox runs in-process and has no wire format",
}
SECRET = "whsec_dGVzdHNlY3JldA=="


def make_account() -> ProviderAccount:
    return ProviderAccountFactory(provider="sandbox", slug="contract-sandbox")


def _request(token: str = "tok_success", **overrides: object) -> PaymentRequest:
    values: dict = {
        "amount": 1050,
        "currency": "EUR",
        "source_token": token,
        "capture": False,
        "idempotency_key": uuid.uuid4().hex,
        "order_id": "order-contract",
    }
    values.update(overrides)
    return PaymentRequest(**values)


def _charge(account: ProviderAccount, *, capture: bool) -> str:
    adapter = registry.get_adapter(account)
    return adapter.authorize(_request(capture=capture)).provider_reference


def success_authorize(rsps, account) -> PaymentRequest:
    return _request()


def success_capture(rsps, account) -> CaptureRequest:
    reference = _charge(account, capture=False)
    return CaptureRequest(
        provider_reference=reference,
        amount=1000,
        currency="EUR",
        idempotency_key=uuid.uuid4().hex,
    )


def decline(rsps, account, kind: str) -> PaymentRequest:
    return _request(_TOKENS[kind])


def bad_request_400(rsps, account) -> PaymentRequest:
    return _request(amount=0)


def unauthorized_401(rsps, account) -> PaymentRequest:
    account.set_credentials({"api_key": "sk_live_not_a_sandbox_key"})
    account.save()
    return _request()


def payment_required_402(rsps, account) -> PaymentRequest:
    return _request("tok_decline")


def idempotency_conflict(rsps, account) -> PaymentRequest:
    first = _request()
    registry.get_adapter(account).authorize(first)
    return _request(idempotency_key=first.idempotency_key, amount=2000)


def rate_limited_429(rsps, account) -> PaymentRequest:
    return _request("tok_rate_limited")


def server_error_500(rsps, account) -> PaymentRequest:
    return _request("tok_server_error")


def read_timeout(rsps, account) -> PaymentRequest:
    return _request("tok_timeout")


def connection_refused(rsps, account) -> PaymentRequest:
    account.settings = {"outage": True}
    account.save()
    return _request()


def refund_partial(rsps, account) -> RefundRequest:
    reference = _charge(account, capture=True)
    return RefundRequest(
        provider_reference=reference,
        amount=400,
        currency="EUR",
        idempotency_key=uuid.uuid4().hex,
    )


def _webhook(reference: str, *, secret: str = SECRET, age: int = 0) -> Webhook:
    body = json.dumps(
        {"type": "payment.captured", "data": {"reference": reference, "amount": 1050}}
    ).encode()
    headers = signed_headers(
        secret=secret,
        webhook_id=f"msg_{uuid.uuid4().hex}",
        body=body,
        timestamp=int(time.time()) - age,
    )
    return Webhook(
        body=body,
        headers=headers,
        kind=PaymentEventKind.SUCCEEDED,
        reference=reference,
    )


def webhook_valid(rsps, account) -> Webhook:
    return _webhook("ch_sbx_contract")


def webhook_forged(rsps, account) -> Webhook:
    return _webhook("ch_sbx_contract", secret="whsec_b3RoZXJzZWNyZXQ=")


def webhook_stale(rsps, account) -> Webhook:
    return _webhook("ch_sbx_contract", age=3600)
