"""Contract harness for Braintree: the official SDK, routed through the
account's ProviderClient session, answered by ``responses`` with XML shaped
like the gateway's (tests/fixtures/braintree/); webhooks signed by the SDK's
own ``webhook_testing``."""

from pathlib import Path
from urllib.parse import urlencode

import braintree
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

PROVIDER = "braintree"
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
NOT_APPLICABLE = {
    "webhook_stale": (
        "Braintree signs no delivery time: bt_signature is an HMAC of bt_payload "
        "only, and Braintree retries a failed delivery with the same payload for "
        "hours; a replay is caught by the dedupe key (kind, subject, timestamp)"
    ),
}

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "braintree"
MERCHANT = "contract_merchant"
PUBLIC_KEY = "contractpublickey"
PRIVATE_KEY = "contractprivatekey0123456789abcd"
TRANSACTIONS = (
    f"https://api.sandbox.braintreegateway.com:443/merchants/{MERCHANT}/transactions"
)
TXN = "k9y7n3pq"
XML = {"content_type": "application/xml; charset=utf-8"}
_PROCESSOR_CODES = {
    "card_declined": ("2000", "Do Not Honor"),
    "insufficient_funds": ("2001", "Insufficient Funds"),
    "expired_card": ("2004", "Expired Card"),
    "incorrect_cvc": ("2010", "Card Issuer Declined CVV"),
    "incorrect_number": ("2005", "Invalid Credit Card Number"),
    "lost_or_stolen": ("2012", "Processor Declined - Possible Lost Card"),
    "fraudulent": ("2014", "Processor Declined - Fraud Suspected"),
    "processing_error": ("3000", "Processor Network Unavailable - Try Again"),
    "authentication_required": ("2099", "Cardholder Authentication Required"),
}


def _load(name: str) -> str:
    return (FIXTURES / name).read_text()


def make_account() -> ProviderAccount:
    return ProviderAccountFactory(
        provider=PROVIDER,
        settings={"backoff_base_seconds": 0.001},
        credentials={
            "merchant_id": MERCHANT,
            "public_key": PUBLIC_KEY,
            "private_key": PRIVATE_KEY,
        },
    )


def _payment() -> PaymentRequest:
    return PaymentRequest(
        amount=1050,
        currency="USD",
        source_token="fake-valid-nonce",
        capture=False,
        idempotency_key="contract-pay-1",
        order_id="order-1001",
    )


def _sale_answers(rsps, status: int, body: object = "", **kwargs) -> PaymentRequest:
    rsps.post(TRANSACTIONS, status=status, body=body, **XML, **kwargs)
    return _payment()


def success_authorize(rsps, account) -> PaymentRequest:
    return _sale_answers(rsps, 201, _load("transaction_authorized.xml"))


def success_capture(rsps, account) -> CaptureRequest:
    rsps.put(
        f"{TRANSACTIONS}/{TXN}/submit_for_settlement",
        body=_load("transaction_partially_submitted.xml"),
        **XML,
    )
    return CaptureRequest(
        provider_reference=TXN,
        amount=650,
        currency="USD",
        idempotency_key="contract-cap-1",
    )


def decline(rsps, account, kind: str) -> PaymentRequest:
    code, text = _PROCESSOR_CODES[kind]
    body = (
        _load("error_processor_declined.xml")
        .replace("<processor-response-code>2000<", f"<processor-response-code>{code}<")
        .replace("Do Not Honor", text)
    )
    return _sale_answers(rsps, 422, body)


def bad_request_400(rsps, account) -> PaymentRequest:
    return _sale_answers(rsps, 400)


def unauthorized_401(rsps, account) -> PaymentRequest:
    return _sale_answers(rsps, 401)


def payment_required_402(rsps, account) -> PaymentRequest:
    return _sale_answers(rsps, 402)


def idempotency_conflict(rsps, account) -> PaymentRequest:
    return _sale_answers(rsps, 422, _load("error_api_request_key_reused.xml"))


def rate_limited_429(rsps, account) -> PaymentRequest:
    return _sale_answers(rsps, 429, headers={"Retry-After": "30"})


def server_error_500(rsps, account) -> PaymentRequest:
    return _sale_answers(rsps, 500)


def read_timeout(rsps, account) -> PaymentRequest:
    rsps.post(TRANSACTIONS, body=requests.ReadTimeout("read timed out"))
    return _payment()


def connection_refused(rsps, account) -> PaymentRequest:
    reason = NewConnectionError(None, "Failed to establish a new connection: refused")
    rsps.post(
        TRANSACTIONS, body=requests.ConnectionError(MaxRetryError(None, "/", reason))
    )
    return _payment()


def malformed_json(rsps, account) -> PaymentRequest:
    # Braintree answers XML: the equivalent is a body cut off mid-document.
    return _sale_answers(rsps, 201, "<transaction><id>k9y7n3pq</id><status>auth")


def refund_partial(rsps, account) -> RefundRequest:
    rsps.post(
        f"{TRANSACTIONS}/{TXN}/refund",
        status=201,
        body=_load("transaction_refund.xml"),
        **XML,
    )
    return RefundRequest(
        provider_reference=TXN,
        amount=400,
        currency="USD",
        idempotency_key="contract-refund-1",
    )


def _signed(private_key: str) -> bytes:
    gateway = braintree.BraintreeGateway(
        braintree.Configuration(
            environment=braintree.Environment.Sandbox,
            merchant_id=MERCHANT,
            public_key=PUBLIC_KEY,
            private_key=private_key,
        )
    )
    sample = gateway.webhook_testing.sample_notification("transaction_settled", TXN)
    return urlencode(sample).encode()


_FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def webhook_valid(rsps, account) -> Webhook:
    return Webhook(
        body=_signed(PRIVATE_KEY),
        headers=dict(_FORM),
        kind=PaymentEventKind.SUCCEEDED,
        reference=TXN,
    )


def webhook_forged(rsps, account) -> Webhook:
    return Webhook(body=_signed("an-attackers-guess-at-the-key"), headers=dict(_FORM))


def webhook_stale(rsps, account) -> Webhook:  # pragma: no cover - NOT_APPLICABLE
    raise AssertionError(NOT_APPLICABLE["webhook_stale"])
