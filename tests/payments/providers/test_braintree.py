"""The Braintree adapter: the official SDK with its HTTP routed through the
account's ProviderClient session, against ``responses`` fixtures shaped like
the gateway's XML (tests/fixtures/braintree/), and webhooks signed by the SDK's
own ``webhook_testing``."""

import base64
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import braintree
import pytest
import requests
import responses
from braintree.util.xml_util import XmlUtil
from urllib3.exceptions import MaxRetryError, NewConnectionError

from integrations import correlation
from integrations.errors import ConfigurationError, NotProcessed, Rejected, Unknown
from integrations.models import ProviderCall
from integrations.webhooks.verification import WebhookVerificationError
from payments.providers.base import (
    CaptureRequest,
    PaymentEventKind,
    PaymentRequest,
    ProviderStatus,
    RefundRequest,
    RefundStatus,
    SaveMethodRequest,
)
from payments.providers.braintree import BraintreeAdapter
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "braintree"
MERCHANT = "switchyard_merchant"
PUBLIC_KEY = "x8t4pq2kz6w9yj3n"
PRIVATE_KEY = "5c1e9a7f3b2d4e6f8a0b1c2d3e4f5a6b"
BASE = f"https://api.sandbox.braintreegateway.com:443/merchants/{MERCHANT}"
TRANSACTIONS = f"{BASE}/transactions"
TXN = "k9y7n3pq"
FAST = {
    "max_attempts": 2,
    "backoff_base_seconds": 0.001,
    "backoff_cap_seconds": 0.001,
    "retry_after_cap_seconds": 0.5,
    "breaker_consecutive_failures": 50,
    "merchant_accounts": "JPY=switchyardJPY",
}
XML = {"content_type": "application/xml; charset=utf-8"}


def load(name: str) -> str:
    return (FIXTURES / name).read_text()


@pytest.fixture
def account():
    return ProviderAccountFactory(
        provider="braintree",
        slug="braintree-main",
        settings=dict(FAST),
        credentials={
            "merchant_id": MERCHANT,
            "public_key": PUBLIC_KEY,
            "private_key": PRIVATE_KEY,
        },
    )


@pytest.fixture
def adapter(account) -> BraintreeAdapter:
    return BraintreeAdapter(account)


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def payment(**changes) -> PaymentRequest:
    values = {
        "amount": 1050,
        "currency": "USD",
        "source_token": "fake-valid-nonce",
        "capture": False,
        "idempotency_key": "pay-key-0001",
        "order_id": "order-1001",
        "customer_email": "buyer@example.com",
    }
    values.update(changes)
    return PaymentRequest(**values)


def xml_body(request) -> dict:
    return XmlUtil.dict_from_xml(request.body)


def calls_to(rsps, url: str) -> list:
    return [c.request for c in rsps.calls if c.request.url == url]


# --- The SDK goes through our session -------------------------------------------------


def test_sale_goes_through_the_client_session_with_our_correlation_id(adapter, mocked):
    mocked.post(
        TRANSACTIONS, status=201, body=load("transaction_authorized.xml"), **XML
    )

    with correlation.bind("checkout-77"):
        result = adapter.authorize(payment())

    (request,) = calls_to(mocked, TRANSACTIONS)
    assert request.headers["X-Correlation-ID"] == "checkout-77"
    expected = base64.b64encode(f"{PUBLIC_KEY}:{PRIVATE_KEY}".encode()).decode()
    # The SDK builds the header as bytes.
    assert request.headers["Authorization"] == f"Basic {expected}".encode()
    assert xml_body(request) == {
        "transaction": {
            "amount": "10.50",
            "order_id": "order-1001",
            "api_request_key": "pay-key-0001",
            "options": {"submit_for_settlement": False},
            "customer": {"email": "buyer@example.com"},
            "payment_method_nonce": "fake-valid-nonce",
            "type": "sale",
        }
    }
    assert result.status is ProviderStatus.AUTHORIZED
    assert (result.provider_reference, result.currency) == (TXN, "USD")
    assert (result.amount_authorized, result.amount_captured) == (1050, 0)
    assert (result.card_brand, result.card_last4) == ("visa", "1111")
    call = ProviderCall.objects.get()
    assert (call.operation, call.outcome, call.http_status, call.attempts) == (
        "braintree_sale",
        "success",
        201,
        1,
    )
    assert call.idempotency_key == "pay-key-0001"


def test_sale_with_settlement(adapter, mocked):
    mocked.post(
        TRANSACTIONS,
        status=201,
        body=load("transaction_submitted_for_settlement.xml"),
        **XML,
    )

    result = adapter.authorize(payment(capture=True))

    (request,) = calls_to(mocked, TRANSACTIONS)
    assert xml_body(request)["transaction"]["options"] == {
        "submit_for_settlement": True
    }
    assert result.status is ProviderStatus.CAPTURED
    assert (result.amount_authorized, result.amount_captured) == (1050, 1050)


def test_jpy_uses_its_merchant_account_and_whole_yen(adapter, mocked):
    mocked.post(
        TRANSACTIONS, status=201, body=load("transaction_authorized_jpy.xml"), **XML
    )

    result = adapter.authorize(payment(amount=1050, currency="JPY"))

    sale = xml_body(calls_to(mocked, TRANSACTIONS)[0])["transaction"]
    assert (sale["amount"], sale["merchant_account_id"]) == ("1050", "switchyardJPY")
    assert (result.currency, result.amount_authorized) == ("JPY", 1050)


def test_currency_without_a_merchant_account_is_refused_before_sending(adapter):
    with responses.RequestsMock() as rsps, pytest.raises(Rejected) as caught:
        adapter.authorize(payment(currency="KWD", amount=1005))
    assert caught.value.code == "currency_not_supported"
    assert len(rsps.calls) == 0


def test_charge_saved_sends_the_vaulted_token(adapter, mocked):
    mocked.post(
        TRANSACTIONS, status=201, body=load("transaction_authorized.xml"), **XML
    )

    adapter.charge_saved(
        payment(
            source_token="5wbfvm4",
            provider_customer_id="612187461",
            off_session=True,
        )
    )

    sale = xml_body(calls_to(mocked, TRANSACTIONS)[0])["transaction"]
    assert sale["payment_method_token"] == "5wbfvm4"
    assert sale["customer_id"] == "612187461"
    assert sale["transaction_source"] == "unscheduled"
    assert "payment_method_nonce" not in sale


# --- Declines and errors ------------------------------------------------------------


@pytest.mark.parametrize(
    ("processor_code", "text", "code"),
    [
        ("2000", "Do Not Honor", "card_declined"),
        ("2001", "Insufficient Funds", "insufficient_funds"),
        ("2004", "Expired Card", "expired_card"),
        ("2010", "Card Issuer Declined CVV", "incorrect_cvc"),
        ("2014", "Processor Declined - Fraud Suspected", "fraudulent"),
        ("2053", "Card reported as lost or stolen", "lost_or_stolen"),
        ("2046", "Declined", "card_declined"),
        ("3000", "Processor Network Unavailable - Try Again", "processing_error"),
    ],
)
def test_processor_declines(adapter, mocked, processor_code, text, code):
    body = (
        load("error_processor_declined.xml")
        .replace(
            "<processor-response-code>2000<",
            f"<processor-response-code>{processor_code}<",
        )
        .replace("Do Not Honor", text)
    )
    mocked.post(TRANSACTIONS, status=422, body=body, **XML)

    with pytest.raises(Rejected) as caught:
        adapter.authorize(payment())

    assert (caught.value.code, caught.value.provider_code) == (code, processor_code)
    assert caught.value.message == text
    # A decline is final: sent once, and logged as rejected.
    assert len(calls_to(mocked, TRANSACTIONS)) == 1
    call = ProviderCall.objects.get()
    assert (call.outcome, call.error_code, call.http_status) == ("rejected", code, 422)


def test_gateway_rejection(adapter, mocked):
    mocked.post(
        TRANSACTIONS, status=422, body=load("error_gateway_rejected.xml"), **XML
    )
    with pytest.raises(Rejected) as caught:
        adapter.authorize(payment())
    assert (caught.value.code, caught.value.provider_code) == ("incorrect_cvc", "cvv")


def test_validation_error(adapter, mocked):
    mocked.post(TRANSACTIONS, status=422, body=load("error_amount_invalid.xml"), **XML)
    with pytest.raises(Rejected) as caught:
        adapter.authorize(payment())
    assert (caught.value.code, caught.value.provider_code) == (
        "invalid_request",
        "81503",
    )


def test_idempotency_conflict(adapter, mocked):
    mocked.post(
        TRANSACTIONS, status=422, body=load("error_api_request_key_reused.xml"), **XML
    )
    with pytest.raises(Rejected) as caught:
        adapter.authorize(payment())
    assert (caught.value.code, caught.value.provider_code) == (
        "idempotency_conflict",
        "915232",
    )


def test_request_in_flight_is_unknown_and_retried_with_the_same_key(adapter, mocked):
    mocked.post(
        TRANSACTIONS,
        status=422,
        body=load("error_api_request_key_in_flight.xml"),
        **XML,
    )
    mocked.post(
        TRANSACTIONS, status=201, body=load("transaction_authorized.xml"), **XML
    )

    result = adapter.authorize(payment())

    assert result.status is ProviderStatus.AUTHORIZED
    keys = [
        xml_body(r)["transaction"]["api_request_key"]
        for r in calls_to(mocked, TRANSACTIONS)
    ]
    assert keys == ["pay-key-0001", "pay-key-0001"]


@pytest.mark.parametrize(
    ("status", "error", "code"),
    [
        (400, Rejected, "bad_request"),
        (401, NotProcessed, "authentication_failed"),
        (402, Rejected, "payment_required"),
        (403, NotProcessed, "permission_denied"),
        (404, Rejected, "not_found"),
    ],
)
def test_http_errors(adapter, mocked, status, error, code):
    mocked.post(TRANSACTIONS, status=status, body="", **XML)

    with pytest.raises(error) as caught:
        adapter.authorize(payment())

    assert (caught.value.code, caught.value.http_status) == (code, status)
    assert len(calls_to(mocked, TRANSACTIONS)) == 1


def test_429_is_not_processed_and_retried(adapter, mocked):
    mocked.post(TRANSACTIONS, status=429, body="", headers={"Retry-After": "0"}, **XML)

    with pytest.raises(NotProcessed) as caught:
        adapter.authorize(payment())

    assert caught.value.code == "too_many_requests"
    assert len(calls_to(mocked, TRANSACTIONS)) == 2


def test_429_carries_retry_after_the_sdk_drops(adapter, mocked):
    mocked.post(TRANSACTIONS, status=429, body="", headers={"Retry-After": "30"}, **XML)

    with pytest.raises(NotProcessed) as caught:
        adapter.authorize(payment())

    assert caught.value.retry_after == 30
    # Longer than the account's cap: not waited for, not retried.
    assert len(calls_to(mocked, TRANSACTIONS)) == 1


def test_500_is_unknown_and_replayed_with_the_same_api_request_key(adapter, mocked):
    mocked.post(TRANSACTIONS, status=500, body="", **XML)

    with pytest.raises(Unknown) as caught:
        adapter.authorize(payment())

    assert caught.value.code == "server_error"
    keys = {
        xml_body(r)["transaction"]["api_request_key"]
        for r in calls_to(mocked, TRANSACTIONS)
    }
    assert keys == {"pay-key-0001"}
    assert len(calls_to(mocked, TRANSACTIONS)) == 2


def test_503_is_unknown(adapter, mocked):
    mocked.post(TRANSACTIONS, status=503, body="", **XML)
    with pytest.raises(Unknown) as caught:
        adapter.authorize(payment())
    assert caught.value.http_status == 503


def test_read_timeout_is_unknown(adapter, mocked):
    mocked.post(TRANSACTIONS, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(Unknown) as caught:
        adapter.authorize(payment())
    assert caught.value.code == "read_timeout"


def test_connection_refused_is_not_processed(adapter, mocked):
    reason = NewConnectionError(None, "Failed to establish a new connection: refused")
    mocked.post(
        TRANSACTIONS, body=requests.ConnectionError(MaxRetryError(None, "/", reason))
    )
    with pytest.raises(NotProcessed) as caught:
        adapter.authorize(payment())
    assert caught.value.code == "connection_refused"


def test_malformed_xml_is_unknown(adapter, mocked):
    mocked.post(TRANSACTIONS, status=201, body="<transaction><id>k9y7", **XML)
    with pytest.raises(Unknown) as caught:
        adapter.authorize(payment())
    assert caught.value.code == "malformed_response"


def test_missing_credentials_send_nothing(account):
    account.set_credentials({"merchant_id": MERCHANT, "public_key": PUBLIC_KEY})
    with responses.RequestsMock() as rsps, pytest.raises(ConfigurationError):
        BraintreeAdapter(account).authorize(payment())
    assert len(rsps.calls) == 0


# --- Capture, void, refund, find ----------------------------------------------------


def test_partial_final_capture(adapter, mocked):
    url = f"{TRANSACTIONS}/{TXN}/submit_for_settlement"
    mocked.put(url, body=load("transaction_partially_submitted.xml"), **XML)

    result = adapter.capture(
        CaptureRequest(
            provider_reference=TXN, amount=650, currency="USD", idempotency_key="cap-1"
        )
    )

    (request,) = calls_to(mocked, url)
    assert xml_body(request) == {
        "transaction": {"amount": "6.50", "api_request_key": "cap-1"}
    }
    assert result.status is ProviderStatus.CAPTURED
    assert (result.provider_reference, result.amount_captured) == (TXN, 650)


def test_non_final_capture_uses_partial_settlement(adapter, mocked):
    url = f"{TRANSACTIONS}/{TXN}/submit_for_partial_settlement"
    mocked.post(
        url,
        status=201,
        body=load("transaction_partial_settlement_child.xml"),
        **XML,
    )

    result = adapter.capture(
        CaptureRequest(
            provider_reference=TXN,
            amount=650,
            currency="USD",
            idempotency_key="cap-2",
            final=False,
        )
    )

    assert xml_body(calls_to(mocked, url)[0])["transaction"]["amount"] == "6.50"
    assert result.provider_reference == TXN
    # Braintree answers with the child transaction: refunds of it name it.
    assert result.capture_reference == "p4s7c2dz"


def test_void(adapter, mocked):
    url = f"{TRANSACTIONS}/{TXN}/void"
    mocked.put(url, body=load("transaction_voided.xml"), **XML)

    result = adapter.void(provider_reference=TXN, idempotency_key="void-1")

    assert xml_body(calls_to(mocked, url)[0]) == {
        "transaction": {"api_request_key": "void-1"}
    }
    assert result.status is ProviderStatus.VOIDED


def test_partial_refund(adapter, mocked):
    url = f"{TRANSACTIONS}/{TXN}/refund"
    mocked.post(url, status=201, body=load("transaction_refund.xml"), **XML)

    result = adapter.refund(
        RefundRequest(
            provider_reference=TXN, amount=400, currency="USD", idempotency_key="ref-1"
        )
    )

    assert xml_body(calls_to(mocked, url)[0]) == {
        "transaction": {"amount": "4.00", "api_request_key": "ref-1"}
    }
    assert result.status is RefundStatus.SUCCEEDED
    assert (result.provider_reference, result.amount) == ("r4fn9w2x", 400)


def test_refund_before_settlement_is_refused(adapter, mocked):
    url = f"{TRANSACTIONS}/{TXN}/refund"
    mocked.post(
        url, status=422, body=load("error_cannot_refund_unless_settled.xml"), **XML
    )
    with pytest.raises(Rejected) as caught:
        adapter.refund(
            RefundRequest(
                provider_reference=TXN, amount=400, currency="USD", idempotency_key="r"
            )
        )
    assert (caught.value.code, caught.value.provider_code) == ("not_settled", "91506")


def test_retrieve(adapter, mocked):
    mocked.get(f"{TRANSACTIONS}/{TXN}", body=load("transaction_settled.xml"), **XML)
    result = adapter.retrieve(provider_reference=TXN)
    assert result.status is ProviderStatus.CAPTURED
    assert result.amount_captured == 1050


def test_retrieve_missing_transaction_is_none(adapter, mocked):
    mocked.get(f"{TRANSACTIONS}/{TXN}", status=404, body="", **XML)
    assert adapter.retrieve(provider_reference=TXN) is None


def test_retrieve_by_idempotency_key_alone_does_not_claim_absence(adapter):
    with pytest.raises(Unknown) as caught:
        adapter.retrieve(idempotency_key="pay-key-0001")
    assert caught.value.code == "lookup_not_supported"


def test_health_check_is_an_authenticated_call(adapter, mocked):
    url = f"{TRANSACTIONS}/health_check_probe"
    mocked.get(url, status=404, body="", **XML)
    assert adapter.health_check().ok
    mocked.replace(responses.GET, url, status=401, body="", **XML)
    with pytest.raises(NotProcessed):
        adapter.health_check()


# --- Vault ----------------------------------------------------------------------------


def test_save_method_creates_a_customer_from_a_nonce(adapter, mocked):
    url = f"{BASE}/customers"
    mocked.post(url, status=201, body=load("customer_created.xml"), **XML)

    saved = adapter.save_method(
        SaveMethodRequest(
            customer_reference="cust-1",
            source_token="fake-valid-nonce",
            idempotency_key="save-1",
            customer_email="buyer@example.com",
        )
    )

    assert xml_body(calls_to(mocked, url)[0]) == {
        "customer": {
            "payment_method_nonce": "fake-valid-nonce",
            "credit_card": {"options": {"verify_card": True}},
            "email": "buyer@example.com",
        }
    }
    assert (saved.provider_customer_id, saved.provider_method_id) == (
        "612187461",
        "5wbfvm4",
    )
    assert (saved.card_brand, saved.card_last4) == ("visa", "1111")
    assert (saved.exp_month, saved.exp_year) == (12, 2030)


def test_save_method_for_an_existing_customer(adapter, mocked):
    url = f"{BASE}/payment_methods"
    card = load("customer_created.xml")
    start = card.index("<credit-card>")
    end = card.index("</credit-card>") + len("</credit-card>")
    body = '<?xml version="1.0" encoding="UTF-8"?>\n' + card[start:end]
    mocked.post(url, status=201, body=body, **XML)

    saved = adapter.save_method(
        SaveMethodRequest(
            customer_reference="cust-1",
            source_token="fake-valid-nonce",
            idempotency_key="save-2",
            provider_customer_id="612187461",
        )
    )

    sent = xml_body(calls_to(mocked, url)[0])["payment_method"]
    assert sent["customer_id"] == "612187461"
    assert saved.provider_method_id == "5wbfvm4"


def test_save_method_with_a_declined_verification(adapter, mocked):
    mocked.post(
        f"{BASE}/customers",
        status=422,
        body=load("error_verification_failed.xml"),
        **XML,
    )
    with pytest.raises(Rejected) as caught:
        adapter.save_method(
            SaveMethodRequest(
                customer_reference="c", source_token="n", idempotency_key="k"
            )
        )
    assert (caught.value.code, caught.value.provider_code) == (
        "insufficient_funds",
        "2001",
    )


def test_vaulting_is_not_retried_after_an_unknown_outcome(adapter, mocked):
    mocked.post(f"{BASE}/customers", status=500, body="", **XML)
    with pytest.raises(Unknown):
        adapter.save_method(
            SaveMethodRequest(
                customer_reference="c", source_token="n", idempotency_key="k"
            )
        )
    assert len(calls_to(mocked, f"{BASE}/customers")) == 1


# --- Webhooks ------------------------------------------------------------------------


def signer(public_key: str = PUBLIC_KEY, private_key: str = PRIVATE_KEY):
    return braintree.BraintreeGateway(
        braintree.Configuration(
            environment=braintree.Environment.Sandbox,
            merchant_id=MERCHANT,
            public_key=public_key,
            private_key=private_key,
        )
    )


def notification(kind: str, subject_id: str, **keys: str) -> bytes:
    signed = signer(**keys).webhook_testing.sample_notification(kind, subject_id)
    return urlencode(signed).encode()


def verify(adapter: BraintreeAdapter, body: bytes):
    return adapter.verify_webhook(
        body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        url="https://shop.example/webhooks/braintree-main/",
    )


def test_valid_settled_webhook(adapter):
    message = verify(adapter, notification("transaction_settled", TXN))

    assert message.event_type == "transaction_settled"
    assert message.dedupe_key.startswith(f"transaction_settled:{TXN}:")
    assert message.occurred_at.tzinfo is not None
    event = adapter.parse_payment_event(message)
    assert event.kind is PaymentEventKind.SUCCEEDED
    assert (event.provider_reference, event.amount, event.currency) == (
        TXN,
        10000,
        "USD",
    )


def test_settlement_declined_webhook(adapter):
    message = verify(adapter, notification("transaction_settlement_declined", TXN))
    event = adapter.parse_payment_event(message)
    assert (event.kind, event.provider_reference) == (
        PaymentEventKind.FAILED_FINAL,
        TXN,
    )


@pytest.mark.parametrize(
    ("kind", "event_kind", "status"),
    [
        ("dispute_opened", PaymentEventKind.DISPUTE_OPENED, "open"),
        ("dispute_won", PaymentEventKind.DISPUTE_CLOSED, "won"),
        ("dispute_lost", PaymentEventKind.DISPUTE_CLOSED, "lost"),
    ],
)
def test_dispute_webhooks(adapter, kind, event_kind, status):
    message = verify(adapter, notification(kind, "dp8kqd3z"))
    event = adapter.parse_payment_event(message)
    assert event.kind is event_kind
    assert (event.dispute_reference, event.dispute_status) == ("dp8kqd3z", status)
    # The SDK's sample names the disputed transaction with the same id.
    assert event.provider_reference == "dp8kqd3z"
    assert (event.amount, event.currency) == (10000, "USD")


def test_forged_webhook_signed_with_another_private_key(adapter):
    body = notification("transaction_settled", TXN, private_key="not-the-real-key")
    with pytest.raises(WebhookVerificationError) as caught:
        verify(adapter, body)
    assert caught.value.code == WebhookVerificationError.FORGED


def test_tampered_payload_is_forged(adapter):
    signed = signer().webhook_testing.sample_notification("transaction_settled", TXN)
    other = signer().webhook_testing.sample_notification("transaction_settled", "zz9")
    body = urlencode(
        {"bt_signature": signed["bt_signature"], "bt_payload": other["bt_payload"]}
    ).encode()
    with pytest.raises(WebhookVerificationError) as caught:
        verify(adapter, body)
    assert caught.value.code == WebhookVerificationError.FORGED


def test_webhook_for_another_public_key_is_forged(adapter):
    body = notification("transaction_settled", TXN, public_key="someone-else")
    with pytest.raises(WebhookVerificationError) as caught:
        verify(adapter, body)
    assert caught.value.code == WebhookVerificationError.FORGED


@pytest.mark.parametrize(
    "body", [b"", b"bt_signature=abc", b"bt_payload=abc", b"\xff\xfe", b"{}"]
)
def test_malformed_webhook(adapter, body):
    with pytest.raises(WebhookVerificationError) as caught:
        verify(adapter, body)
    assert caught.value.code == WebhookVerificationError.MALFORMED


def test_webhook_without_keys_is_an_error_not_a_pass(account):
    account.set_credentials({"merchant_id": MERCHANT})
    with pytest.raises(WebhookVerificationError) as caught:
        verify(BraintreeAdapter(account), notification("transaction_settled", TXN))
    assert caught.value.code == WebhookVerificationError.MISSING_SECRET


def test_redelivery_has_the_same_dedupe_key(adapter):
    body = notification("transaction_settled", TXN)
    assert verify(adapter, body).dedupe_key == verify(adapter, body).dedupe_key
    other = verify(adapter, notification("transaction_settled", "other01"))
    assert other.dedupe_key != verify(adapter, body).dedupe_key


def test_old_notifications_are_accepted_because_braintree_signs_no_send_time(
    adapter,
):
    # Braintree retries a failed delivery with the original payload for hours;
    # a timestamp window would drop those retries. Dedupe catches replays.
    old = b"""<notification>
  <timestamp type="datetime">2020-01-01T00:00:00Z</timestamp>
  <kind>transaction_settled</kind>
  <subject><transaction><id>k9y7n3pq</id><status>settled</status>
  <currency-iso-code>USD</currency-iso-code><amount>10.50</amount></transaction>
  </subject>
</notification>"""
    from braintree.util.crypto import Crypto

    payload = base64.encodebytes(old)
    signature = f"{PUBLIC_KEY}|{Crypto.sha1_hmac_hash(PRIVATE_KEY, payload)}"
    body = urlencode({"bt_signature": signature, "bt_payload": payload}).encode()

    message = verify(adapter, body)

    assert message.occurred_at == datetime(2020, 1, 1, tzinfo=UTC)
    assert adapter.parse_payment_event(message).amount == 1050


def test_other_kinds_are_ignored(adapter):
    message = verify(adapter, notification("subscription_went_past_due", "sub1"))
    assert adapter.parse_payment_event(message) is None
