"""The PayPal adapter against ``responses`` fixtures built from PayPal's
published Orders v2, Payments v2 and Webhooks v1 specs (tests/fixtures/paypal/).
Asserts what is sent (endpoints, PayPal-Request-Id, decimal strings, the
token) as much as what comes back."""

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import responses
from urllib3.exceptions import MaxRetryError, NewConnectionError

from integrations.errors import ConfigurationError, NotProcessed, Rejected, Unknown
from integrations.models import ProviderCall
from integrations.providers.base import WebhookMessage
from integrations.webhooks.verification import UnusableWebhook, WebhookVerificationError
from payments.providers.base import (
    CaptureRequest,
    PaymentEventKind,
    PaymentRequest,
    ProviderStatus,
    RefundRequest,
    RefundStatus,
    SaveMethodRequest,
)
from payments.providers.paypal import PayPalAdapter
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "paypal"
BASE = "https://api-m.sandbox.paypal.com"
TOKEN_URL = f"{BASE}/v1/oauth2/token"
ORDER = "5O190127TN364715T"
AUTH = "0VF52814937998046"
CAPTURE = "3C679366HH908993F"
ORDER_URL = f"{BASE}/v2/checkout/orders/{ORDER}"
VERIFY_URL = f"{BASE}/v1/notifications/verify-webhook-signature"
CLIENT_ID = "AbCdEf-switchyard-client-id"
SECRET = "EFgh-switchyard-client-secret"
WEBHOOK_ID = "1JE4291016473214C"
FAST = {
    "max_attempts": 2,
    "backoff_base_seconds": 0.001,
    "backoff_cap_seconds": 0.001,
    "retry_after_cap_seconds": 0.5,
    "breaker_consecutive_failures": 50,
    "webhook_id": WEBHOOK_ID,
}


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def account():
    return ProviderAccountFactory(
        provider="paypal",
        slug="paypal-main",
        settings=dict(FAST),
        credentials={"client_id": CLIENT_ID, "client_secret": SECRET},
    )


@pytest.fixture
def adapter(account) -> PayPalAdapter:
    return PayPalAdapter(account)


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(TOKEN_URL, json=load("oauth_token.json"))
        yield rsps


def payment(**changes) -> PaymentRequest:
    values = {
        "amount": 1050,
        "currency": "USD",
        "source_token": ORDER,
        "capture": True,
        "idempotency_key": "pay-key-0001",
        "order_id": "order-1001",
    }
    values.update(changes)
    return PaymentRequest(**values)


def sent(rsps, method: str, url: str) -> list:
    return [
        c.request
        for c in rsps.calls
        if c.request.method == method and (c.request.url.split("?")[0] == url)
    ]


def body_of(request) -> dict:
    return json.loads(request.body or b"{}")


def refused() -> requests.ConnectionError:
    reason = NewConnectionError(None, "Failed to establish a new connection: refused")
    return requests.ConnectionError(MaxRetryError(None, ORDER_URL, reason))


# --- OAuth2 token ---------------------------------------------------------------------


def test_token_is_fetched_with_client_credentials_and_cached_across_calls(
    adapter, mocked
):
    mocked.get(ORDER_URL, json=load("order_captured.json"))

    adapter.retrieve(provider_reference=ORDER)
    adapter.retrieve(provider_reference=ORDER)

    (token_call,) = sent(mocked, "POST", TOKEN_URL)
    expected = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    assert token_call.headers["Authorization"] == f"Basic {expected}"
    assert token_call.body == "grant_type=client_credentials"
    access = load("oauth_token.json")["access_token"]
    gets = sent(mocked, "GET", ORDER_URL)
    assert [g.headers["Authorization"] for g in gets] == [f"Bearer {access}"] * 2


class RecordingCache:
    def __init__(self) -> None:
        self.stored: dict[str, tuple[str, int]] = {}

    def get(self, key: str) -> None:
        return None

    def set(self, key: str, value: str, ttl: int) -> None:
        self.stored[key] = (value, ttl)

    def delete(self, key: str) -> None:
        self.stored.pop(key, None)


def test_token_is_cached_until_shortly_before_expiry(adapter, mocked, monkeypatch):
    from django.conf import settings

    from integrations import oauth

    recording = RecordingCache()
    monkeypatch.setattr(oauth, "cache", recording)
    mocked.get(ORDER_URL, json=load("order_captured.json"))

    adapter.retrieve(provider_reference=ORDER)

    ((key, (value, ttl)),) = recording.stored.items()
    assert value["access_token"] == load("oauth_token.json")["access_token"]
    assert ttl == 32400 - settings.OAUTH_TOKEN_EXPIRY_MARGIN_SECONDS
    assert CLIENT_ID not in key and SECRET not in key


def test_revoked_token_is_refreshed_once_and_the_call_repeated(adapter, mocked):
    mocked.get(ORDER_URL, json=load("order_approved_capture.json"))
    capture_url = f"{ORDER_URL}/capture"
    mocked.post(capture_url, status=401, json=load("error_authentication_failure.json"))
    mocked.post(capture_url, status=201, json=load("order_captured.json"))

    result = adapter.authorize(payment())

    assert result.status is ProviderStatus.CAPTURED
    assert len(sent(mocked, "POST", TOKEN_URL)) == 2
    first, second = sent(mocked, "POST", capture_url)
    assert first.headers["PayPal-Request-Id"] == "pay-key-0001"
    assert second.headers["PayPal-Request-Id"] == "pay-key-0001"


def test_401_after_a_fresh_token_is_not_processed(adapter, mocked):
    mocked.get(ORDER_URL, status=401, json=load("error_authentication_failure.json"))

    with pytest.raises(NotProcessed) as caught:
        adapter.retrieve(provider_reference=ORDER)

    assert caught.value.code == "authentication_failed"
    assert len(sent(mocked, "POST", TOKEN_URL)) == 2
    assert len(sent(mocked, "GET", ORDER_URL)) == 2


def test_bad_client_credentials_are_not_processed(adapter):
    with responses.RequestsMock() as rsps:
        rsps.post(TOKEN_URL, status=401, json=load("oauth_invalid_client.json"))
        with pytest.raises(NotProcessed) as caught:
            adapter.health_check()
    assert caught.value.code == "authentication_failed"


def test_missing_credentials_send_nothing(account):
    account.set_credentials({"client_id": CLIENT_ID})
    with responses.RequestsMock() as rsps, pytest.raises(ConfigurationError):
        PayPalAdapter(account).retrieve(provider_reference=ORDER)
    assert len(rsps.calls) == 0


def test_health_check_obtains_a_fresh_token(adapter, mocked):
    adapter.health_check()
    adapter.health_check()
    assert len(sent(mocked, "POST", TOKEN_URL)) == 2


def test_live_accounts_use_the_live_host(account):
    account.mode = "live"
    with responses.RequestsMock() as rsps:
        rsps.post(
            "https://api-m.paypal.com/v1/oauth2/token", json=load("oauth_token.json")
        )
        assert PayPalAdapter(account).health_check().ok


# --- Authorize / capture an approved order ---------------------------------------


def test_capture_of_an_approved_order(adapter, mocked):
    mocked.get(ORDER_URL, json=load("order_approved_capture.json"))
    mocked.post(f"{ORDER_URL}/capture", status=201, json=load("order_captured.json"))

    result = adapter.authorize(payment())

    (post,) = sent(mocked, "POST", f"{ORDER_URL}/capture")
    assert post.headers["PayPal-Request-Id"] == "pay-key-0001"
    assert post.headers["Prefer"] == "return=representation"
    assert body_of(post) == {}
    assert result.status is ProviderStatus.CAPTURED
    assert result.provider_reference == ORDER
    assert (result.amount_authorized, result.amount_captured) == (1050, 1050)
    assert result.wallet == "paypal"
    assert result.currency == "USD"


def test_authorize_only_uses_the_authorize_endpoint(adapter, mocked):
    mocked.get(ORDER_URL, json=load("order_approved_authorize.json"))
    mocked.post(
        f"{ORDER_URL}/authorize", status=201, json=load("order_authorized.json")
    )

    result = adapter.authorize(payment(capture=False))

    assert result.status is ProviderStatus.AUTHORIZED
    assert (result.amount_authorized, result.amount_captured) == (1050, 0)
    assert (
        sent(mocked, "POST", f"{ORDER_URL}/authorize")[0].headers["PayPal-Request-Id"]
        == "pay-key-0001"
    )


def test_jpy_amounts_have_no_decimals(adapter, mocked):
    mocked.get(ORDER_URL, json=load("order_approved_capture_jpy.json"))
    mocked.post(
        f"{ORDER_URL}/capture", status=201, json=load("order_captured_jpy.json")
    )

    result = adapter.authorize(payment(amount=1050, currency="JPY"))

    assert (result.currency, result.amount_captured) == ("JPY", 1050)


def test_order_for_another_amount_is_refused_before_charging(adapter, mocked):
    mocked.get(ORDER_URL, json=load("order_approved_capture.json"))

    with pytest.raises(Rejected) as caught:
        adapter.authorize(payment(amount=1051))

    assert caught.value.code == "amount_mismatch"
    assert not sent(mocked, "POST", f"{ORDER_URL}/capture")


def test_order_with_the_other_intent_is_refused(adapter, mocked):
    mocked.get(ORDER_URL, json=load("order_approved_capture.json"))
    with pytest.raises(Rejected) as caught:
        adapter.authorize(payment(capture=False))
    assert caught.value.code == "intent_mismatch"


@pytest.mark.parametrize("currency", ["KWD", "BHD", "INR"])
def test_unsupported_currency_is_refused_before_anything_is_sent(adapter, currency):
    with responses.RequestsMock() as rsps, pytest.raises(Rejected) as caught:
        adapter.authorize(payment(currency=currency, amount=1005))
    assert caught.value.code == "currency_not_supported"
    assert len(rsps.calls) == 0


def test_create_order_sends_the_amount_as_a_decimal_string(adapter, mocked):
    mocked.post(
        f"{BASE}/v2/checkout/orders",
        status=201,
        json=load("order_approved_capture.json"),
    )

    order = adapter.create_order(
        amount=1050,
        currency="USD",
        order_id="order-1001",
        capture=False,
        idempotency_key="order-key-1",
    )

    (post,) = sent(mocked, "POST", f"{BASE}/v2/checkout/orders")
    assert post.headers["PayPal-Request-Id"] == "order-key-1"
    assert body_of(post) == {
        "intent": "AUTHORIZE",
        "purchase_units": [
            {
                "reference_id": "order-1001",
                "custom_id": "order-1001",
                "amount": {"currency_code": "USD", "value": "10.50"},
            }
        ],
    }
    assert order["id"] == ORDER


def test_create_order_in_jpy_sends_whole_yen(adapter, mocked):
    mocked.post(f"{BASE}/v2/checkout/orders", status=201, json={"id": ORDER})
    adapter.create_order(
        amount=1050,
        currency="JPY",
        order_id="o",
        capture=True,
        idempotency_key="k",
    )
    (post,) = sent(mocked, "POST", f"{BASE}/v2/checkout/orders")
    assert body_of(post)["purchase_units"][0]["amount"] == {
        "currency_code": "JPY",
        "value": "1050",
    }


# --- Declines and errors ----------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "code", "provider_code"),
    [
        ("error_instrument_declined.json", "card_declined", "INSTRUMENT_DECLINED"),
        ("error_card_expired.json", "expired_card", "REFERENCED_CARD_EXPIRED"),
        (
            "error_payer_action_required.json",
            "authentication_required",
            "PAYER_ACTION_REQUIRED",
        ),
        ("error_compliance_violation.json", "fraudulent", "COMPLIANCE_VIOLATION"),
        (
            "error_duplicate_invoice.json",
            "duplicate_transaction",
            "DUPLICATE_INVOICE_ID",
        ),
    ],
)
def test_422_issues_map_to_our_codes(adapter, mocked, fixture, code, provider_code):
    mocked.get(ORDER_URL, json=load("order_approved_capture.json"))
    mocked.post(f"{ORDER_URL}/capture", status=422, json=load(fixture))

    with pytest.raises(Rejected) as caught:
        adapter.authorize(payment())

    assert (caught.value.code, caught.value.provider_code) == (code, provider_code)
    assert caught.value.http_status == 422
    # A refusal is final: sent once.
    assert len(sent(mocked, "POST", f"{ORDER_URL}/capture")) == 1
    call = ProviderCall.objects.get(operation="paypal_order_capture")
    assert (call.outcome, call.error_code) == ("rejected", code)


def test_declined_capture_inside_a_201_is_a_decline(adapter, mocked):
    mocked.get(ORDER_URL, json=load("order_approved_capture.json"))
    mocked.post(
        f"{ORDER_URL}/capture", status=201, json=load("order_capture_declined.json")
    )

    with pytest.raises(Rejected) as caught:
        adapter.authorize(payment())

    assert (caught.value.code, caught.value.provider_code) == (
        "insufficient_funds",
        "5120",
    )
    assert ProviderCall.objects.get(operation="paypal_order_capture").outcome == (
        "rejected"
    )


@pytest.mark.parametrize(
    ("status", "fixture", "error", "code"),
    [
        (400, "error_invalid_request.json", Rejected, "bad_request"),
        (402, "error_payment_required.json", Rejected, "payment_required"),
        (403, "error_not_authorized.json", NotProcessed, "permission_denied"),
        (404, "error_resource_not_found.json", Rejected, "not_found"),
        (409, "error_conflict.json", Rejected, "idempotency_conflict"),
    ],
)
def test_client_errors(adapter, mocked, status, fixture, error, code):
    mocked.get(ORDER_URL, json=load("order_approved_capture.json"))
    mocked.post(f"{ORDER_URL}/capture", status=status, json=load(fixture))

    with pytest.raises(error) as caught:
        adapter.authorize(payment())

    assert (caught.value.code, caught.value.http_status) == (code, status)
    assert len(sent(mocked, "POST", f"{ORDER_URL}/capture")) == 1


def test_request_still_in_progress_is_unknown_and_retried_with_the_same_id(
    adapter, mocked
):
    mocked.get(ORDER_URL, json=load("order_approved_capture.json"))
    mocked.post(
        f"{ORDER_URL}/capture", status=409, json=load("error_conflict_in_progress.json")
    )
    mocked.post(f"{ORDER_URL}/capture", status=201, json=load("order_captured.json"))

    result = adapter.authorize(payment())

    assert result.status is ProviderStatus.CAPTURED
    ids = [
        r.headers["PayPal-Request-Id"]
        for r in sent(mocked, "POST", f"{ORDER_URL}/capture")
    ]
    assert ids == ["pay-key-0001", "pay-key-0001"]


def test_429_carries_retry_after(adapter, mocked):
    mocked.get(ORDER_URL, json=load("order_approved_capture.json"))
    mocked.post(
        f"{ORDER_URL}/capture",
        status=429,
        json=load("error_rate_limit.json"),
        headers={"Retry-After": "30"},
    )

    with pytest.raises(NotProcessed) as caught:
        adapter.authorize(payment())

    assert (caught.value.code, caught.value.retry_after) == ("too_many_requests", 30)
    # Longer than the account's retry_after_cap_seconds: not waited for.
    assert len(sent(mocked, "POST", f"{ORDER_URL}/capture")) == 1


def test_500_is_retried_with_the_same_request_id_then_unknown(adapter, mocked):
    mocked.get(ORDER_URL, json=load("order_approved_capture.json"))
    mocked.post(f"{ORDER_URL}/capture", status=500, json=load("error_internal.json"))

    with pytest.raises(Unknown) as caught:
        adapter.authorize(payment())

    assert caught.value.code == "server_error"
    posts = sent(mocked, "POST", f"{ORDER_URL}/capture")
    assert [p.headers["PayPal-Request-Id"] for p in posts] == ["pay-key-0001"] * 2


def test_500_then_replay_succeeds(adapter, mocked):
    mocked.get(ORDER_URL, json=load("order_approved_capture.json"))
    mocked.post(f"{ORDER_URL}/capture", status=500, json=load("error_internal.json"))
    mocked.post(f"{ORDER_URL}/capture", status=200, json=load("order_captured.json"))

    assert adapter.authorize(payment()).status is ProviderStatus.CAPTURED


def test_read_timeout_is_unknown(adapter, mocked):
    mocked.get(ORDER_URL, json=load("order_approved_capture.json"))
    mocked.post(f"{ORDER_URL}/capture", body=requests.ReadTimeout("read timed out"))

    with pytest.raises(Unknown) as caught:
        adapter.authorize(payment())

    assert caught.value.code == "read_timeout"
    posts = sent(mocked, "POST", f"{ORDER_URL}/capture")
    assert {p.headers["PayPal-Request-Id"] for p in posts} == {"pay-key-0001"}


def test_connection_refused_is_not_processed(adapter, mocked):
    mocked.get(ORDER_URL, body=refused())

    with pytest.raises(NotProcessed) as caught:
        adapter.authorize(payment())

    assert caught.value.code == "connection_refused"
    assert not sent(mocked, "POST", f"{ORDER_URL}/capture")


def test_malformed_json_is_unknown(adapter, mocked):
    mocked.get(ORDER_URL, json=load("order_approved_capture.json"))
    mocked.post(f"{ORDER_URL}/capture", status=201, body='{"id": "5O19", "status": ')

    with pytest.raises(Unknown) as caught:
        adapter.authorize(payment())

    assert caught.value.code == "malformed_response"


# --- Capture an authorization, void, refund -----------------------------------


def test_partial_capture_of_an_authorization(adapter, mocked):
    capture_url = f"{BASE}/v2/payments/authorizations/{AUTH}/capture"
    mocked.get(ORDER_URL, json=load("order_authorized_partially_captured.json"))
    mocked.post(capture_url, status=201, json=load("authorization_capture.json"))

    result = adapter.capture(
        CaptureRequest(
            provider_reference=ORDER,
            amount=650,
            currency="USD",
            idempotency_key="cap-key-1",
            final=True,
        )
    )

    (post,) = sent(mocked, "POST", capture_url)
    assert post.headers["PayPal-Request-Id"] == "cap-key-1"
    assert body_of(post) == {
        "amount": {"currency_code": "USD", "value": "6.50"},
        "final_capture": True,
    }
    assert result.status is ProviderStatus.CAPTURED
    # 4.00 captured earlier plus 6.50 now.
    assert (result.amount_authorized, result.amount_captured) == (1050, 1050)
    assert result.provider_reference == ORDER


def test_declined_authorization_capture(adapter, mocked):
    capture_url = f"{BASE}/v2/payments/authorizations/{AUTH}/capture"
    mocked.get(ORDER_URL, json=load("order_authorized.json"))
    mocked.post(
        capture_url, status=201, json=load("authorization_capture_declined.json")
    )

    with pytest.raises(Rejected) as caught:
        adapter.capture(
            CaptureRequest(
                provider_reference=ORDER,
                amount=650,
                currency="USD",
                idempotency_key="c",
            )
        )
    assert (caught.value.code, caught.value.provider_code) == ("incorrect_cvc", "5110")


def test_capture_without_an_open_authorization_is_refused(adapter, mocked):
    mocked.get(ORDER_URL, json=load("order_captured.json"))
    with pytest.raises(Rejected) as caught:
        adapter.capture(
            CaptureRequest(
                provider_reference=ORDER,
                amount=650,
                currency="USD",
                idempotency_key="c",
            )
        )
    assert caught.value.code == "not_capturable"


def test_void_an_authorization(adapter, mocked):
    void_url = f"{BASE}/v2/payments/authorizations/{AUTH}/void"
    mocked.get(ORDER_URL, json=load("order_authorized.json"))
    mocked.post(void_url, status=200, json=load("authorization_voided.json"))

    result = adapter.void(provider_reference=ORDER, idempotency_key="void-key-1")

    (post,) = sent(mocked, "POST", void_url)
    assert post.headers["PayPal-Request-Id"] == "void-key-1"
    assert result.status is ProviderStatus.VOIDED
    assert result.amount_authorized == 1050


def test_void_answered_with_204(adapter, mocked):
    void_url = f"{BASE}/v2/payments/authorizations/{AUTH}/void"
    mocked.get(ORDER_URL, json=load("order_authorized.json"))
    mocked.post(void_url, status=204)
    assert adapter.void(provider_reference=ORDER, idempotency_key="v").status is (
        ProviderStatus.VOIDED
    )


def test_void_of_an_already_voided_authorization_sends_nothing(adapter, mocked):
    mocked.get(ORDER_URL, json=load("order_authorization_voided.json"))
    result = adapter.void(provider_reference=ORDER, idempotency_key="v")
    assert result.status is ProviderStatus.VOIDED
    assert not [c for c in mocked.calls if "/void" in c.request.url]


def test_partial_refund_of_a_capture(adapter, mocked):
    refund_url = f"{BASE}/v2/payments/captures/{CAPTURE}/refund"
    mocked.get(ORDER_URL, json=load("order_captured.json"))
    mocked.post(refund_url, status=201, json=load("refund_completed.json"))

    result = adapter.refund(
        RefundRequest(
            provider_reference=ORDER,
            amount=400,
            currency="USD",
            idempotency_key="refund-key-1",
            reason="Defective product",
        )
    )

    (post,) = sent(mocked, "POST", refund_url)
    assert post.headers["PayPal-Request-Id"] == "refund-key-1"
    assert body_of(post) == {
        "amount": {"currency_code": "USD", "value": "4.00"},
        "note_to_payer": "Defective product",
    }
    assert result.status is RefundStatus.SUCCEEDED
    assert (result.provider_reference, result.amount) == ("1JU08902781691411", 400)


def test_refund_above_what_is_left_on_the_capture_is_refused_locally(adapter, mocked):
    mocked.get(ORDER_URL, json=load("order_captured_partially_refunded.json"))
    with pytest.raises(Rejected) as caught:
        adapter.refund(
            RefundRequest(
                provider_reference=ORDER,
                amount=400,
                currency="USD",
                idempotency_key="r",
            )
        )
    assert caught.value.code == "amount_too_large"
    assert not [c for c in mocked.calls if c.request.url.endswith("/refund")]


def test_refund_refused_by_paypal(adapter, mocked):
    refund_url = f"{BASE}/v2/payments/captures/{CAPTURE}/refund"
    mocked.get(ORDER_URL, json=load("order_captured.json"))
    mocked.post(refund_url, status=422, json=load("error_refund_amount_exceeded.json"))
    with pytest.raises(Rejected) as caught:
        adapter.refund(
            RefundRequest(
                provider_reference=ORDER,
                amount=400,
                currency="USD",
                idempotency_key="r",
            )
        )
    assert (caught.value.code, caught.value.provider_code) == (
        "amount_too_large",
        "REFUND_AMOUNT_EXCEEDED",
    )


# --- Retrieve ------------------------------------------------------------------------


def test_retrieve_reads_the_order(adapter, mocked):
    mocked.get(ORDER_URL, json=load("order_authorized.json"))
    result = adapter.retrieve(provider_reference=ORDER)
    assert result.status is ProviderStatus.AUTHORIZED
    assert result.amount_authorized == 1050


def test_retrieve_of_a_declined_capture_is_failed_not_raised(adapter, mocked):
    mocked.get(ORDER_URL, json=load("order_capture_declined.json"))
    assert adapter.retrieve(provider_reference=ORDER).status is ProviderStatus.FAILED


def test_retrieve_unknown_order_is_none(adapter, mocked):
    mocked.get(ORDER_URL, status=404, json=load("error_resource_not_found.json"))
    assert adapter.retrieve(provider_reference=ORDER) is None


def test_retrieve_by_idempotency_key_alone_does_not_claim_absence(adapter):
    with pytest.raises(Unknown) as caught:
        adapter.retrieve(idempotency_key="pay-key-0001")
    assert caught.value.code == "lookup_not_supported"


def test_a_reference_that_is_not_a_paypal_id_is_not_sent(adapter):
    with responses.RequestsMock() as rsps, pytest.raises(Rejected):
        adapter.retrieve(provider_reference="../../v1/oauth2/token")
    assert len(rsps.calls) == 0


def test_vaulting_is_refused_clearly(adapter):
    with pytest.raises(Rejected) as caught:
        adapter.save_method(
            SaveMethodRequest(
                customer_reference="c", source_token="tok", idempotency_key="k"
            )
        )
    assert caught.value.code == "not_supported"


# --- Webhooks ------------------------------------------------------------------------


def transmission(**changes) -> dict[str, str]:
    headers = {
        "PAYPAL-AUTH-ALGO": "SHA256withRSA",
        "PAYPAL-CERT-URL": "https://api.sandbox.paypal.com/v1/notifications/certs/"
        "CERT-360caa42-fca2a594-a5cafa77",
        "PAYPAL-TRANSMISSION-ID": "69cd13f0-d67a-11e5-baa3-778b53f4ae55",
        "PAYPAL-TRANSMISSION-SIG": "lmI95Jx3Y9nhR5SJWlHVIWpg4AgFk7n9bCHSRxbrd8A9zrh"
        "du2rMyFrmz+Zjh3s3boXB07VXCXUZy/UFzUlnGJn0wDugt7FlSvdKeIJenLRemUxYCPVoEZzg9V",
        "PAYPAL-TRANSMISSION-TIME": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    headers.update(changes)
    return {k: v for k, v in headers.items() if v is not None}


def event_body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_valid_webhook_is_verified_by_paypal(adapter, mocked):
    mocked.post(VERIFY_URL, json=load("verify_success.json"))
    body = event_body("event_capture_completed.json")
    headers = transmission()

    message = adapter.verify_webhook(body=body, headers=headers, url="https://x/")

    (post,) = sent(mocked, "POST", VERIFY_URL)
    sent_body = json.loads(post.body)
    assert sent_body == {
        "auth_algo": "SHA256withRSA",
        "cert_url": headers["PAYPAL-CERT-URL"],
        "transmission_id": headers["PAYPAL-TRANSMISSION-ID"],
        "transmission_sig": headers["PAYPAL-TRANSMISSION-SIG"],
        "transmission_time": headers["PAYPAL-TRANSMISSION-TIME"],
        "webhook_id": WEBHOOK_ID,
        "webhook_event": json.loads(body),
    }
    # The event is passed back byte for byte.
    assert body.strip() in post.body
    assert post.headers["Authorization"].startswith("Bearer ")
    assert message.event_type == "PAYMENT.CAPTURE.COMPLETED"
    assert message.dedupe_key == "WH-2CL46544TB770421K-5VB92446WP7345818"
    assert message.occurred_at == datetime(2024, 5, 1, 12, 1, 15, tzinfo=UTC)


def test_forged_webhook_is_refused(adapter, mocked):
    mocked.post(VERIFY_URL, json=load("verify_failure.json"))
    with pytest.raises(WebhookVerificationError) as caught:
        adapter.verify_webhook(
            body=event_body("event_capture_completed.json"),
            headers=transmission(),
            url="https://x/",
        )
    assert caught.value.code == WebhookVerificationError.FORGED
    assert caught.value.http_status == 401


def _at(**ago: float) -> str:
    return (datetime.now(UTC) - timedelta(**ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


# Offsets, not instants: a time taken at collection ages while a long run
# reaches the test (10 minutes ahead became "now" in a 17-minute run).
@pytest.mark.parametrize("ago", [{"days": 4, "minutes": 1}, {"minutes": -10}])
def test_transmission_outside_the_retry_period_is_refused_without_asking_paypal(
    adapter, mocked, ago
):
    sent = _at(**ago)
    with pytest.raises(WebhookVerificationError) as caught:
        adapter.verify_webhook(
            body=event_body("event_capture_completed.json"),
            headers=transmission(**{"PAYPAL-TRANSMISSION-TIME": sent}),
            url="https://x/",
        )
    assert caught.value.code == WebhookVerificationError.STALE
    assert not sent_requests(mocked)


@pytest.mark.parametrize("ago", [{"hours": 1}, {"days": 3}])
def test_a_retry_within_paypals_retry_period_is_verified(adapter, mocked, ago):
    sent = _at(**ago)
    # PayPal redelivers for about three days with the first transmission
    # time, also after our own 503 when its verify API was down.
    mocked.post(VERIFY_URL, json=load("verify_success.json"))
    message = adapter.verify_webhook(
        body=event_body("event_capture_completed.json"),
        headers=transmission(**{"PAYPAL-TRANSMISSION-TIME": sent}),
        url="https://x/",
    )
    assert message.dedupe_key == "WH-2CL46544TB770421K-5VB92446WP7345818"
    assert len(sent_requests(mocked)) == 1


def sent_requests(mocked) -> list:
    return sent(mocked, "POST", VERIFY_URL)


@pytest.mark.parametrize(
    "header",
    [
        "PAYPAL-AUTH-ALGO",
        "PAYPAL-CERT-URL",
        "PAYPAL-TRANSMISSION-ID",
        "PAYPAL-TRANSMISSION-SIG",
        "PAYPAL-TRANSMISSION-TIME",
    ],
)
def test_missing_transmission_header_is_malformed(adapter, mocked, header):
    with pytest.raises(WebhookVerificationError) as caught:
        adapter.verify_webhook(
            body=event_body("event_capture_completed.json"),
            headers=transmission(**{header: None}),
            url="https://x/",
        )
    assert caught.value.code == WebhookVerificationError.MISSING_HEADER
    assert caught.value.param == header
    assert not sent(mocked, "POST", VERIFY_URL)


def test_webhook_without_a_configured_webhook_id_is_an_error(account, mocked):
    account.settings = {k: v for k, v in FAST.items() if k != "webhook_id"}
    with pytest.raises(WebhookVerificationError) as caught:
        PayPalAdapter(account).verify_webhook(
            body=event_body("event_capture_completed.json"),
            headers=transmission(),
            url="https://x/",
        )
    assert caught.value.code == WebhookVerificationError.MISSING_SECRET
    assert not sent(mocked, "POST", VERIFY_URL)


def test_webhook_body_that_is_not_an_event_is_malformed(adapter, mocked):
    # JSON but no object: PayPal can verify it, and verified it is unusable
    # (the intake stores it dead) rather than refused.
    mocked.post(VERIFY_URL, json=load("verify_success.json"))
    with pytest.raises(UnusableWebhook) as caught:
        adapter.verify_webhook(body=b"[1, 2]", headers=transmission(), url="x")
    assert caught.value.code == WebhookVerificationError.MALFORMED


def test_webhook_body_that_is_no_json_is_malformed_unasked(adapter, mocked):
    with pytest.raises(WebhookVerificationError) as caught:
        adapter.verify_webhook(body=b"[1, 2", headers=transmission(), url="x")
    assert not isinstance(caught.value, UnusableWebhook)
    assert caught.value.code == WebhookVerificationError.MALFORMED
    assert not sent(mocked, "POST", VERIFY_URL)


def message_for(name: str) -> WebhookMessage:
    event = load(name)
    return WebhookMessage(
        event_type=event["event_type"], dedupe_key=event["id"], payload=event
    )


def test_capture_completed_event(adapter):
    event = adapter.parse_payment_event(message_for("event_capture_completed.json"))
    assert event.kind is PaymentEventKind.SUCCEEDED
    assert (event.provider_reference, event.amount, event.currency) == (
        ORDER,
        1050,
        "USD",
    )


def test_capture_denied_event(adapter):
    event = adapter.parse_payment_event(message_for("event_capture_denied.json"))
    # Final: a denied capture was not collected.
    assert (event.kind, event.provider_reference) == (
        PaymentEventKind.FAILED_FINAL,
        ORDER,
    )


def test_authorization_events(adapter):
    created = adapter.parse_payment_event(
        message_for("event_authorization_created.json")
    )
    voided = adapter.parse_payment_event(message_for("event_authorization_voided.json"))
    assert (created.kind, created.provider_reference) == (
        PaymentEventKind.AUTHORIZED,
        ORDER,
    )
    assert (voided.kind, voided.provider_reference) == (PaymentEventKind.VOIDED, ORDER)


def test_refund_event_finds_the_order_through_its_capture(adapter, mocked):
    mocked.get(f"{BASE}/v2/payments/captures/{CAPTURE}", json=load("capture.json"))

    event = adapter.parse_payment_event(message_for("event_capture_refunded.json"))

    assert event.kind is PaymentEventKind.REFUNDED
    assert (event.provider_reference, event.refund_reference) == (
        ORDER,
        "1JU08902781691411",
    )
    assert (event.amount, event.currency) == (400, "USD")


def test_dispute_events(adapter, mocked):
    mocked.get(f"{BASE}/v2/payments/captures/{CAPTURE}", json=load("capture.json"))

    opened = adapter.parse_payment_event(message_for("event_dispute_created.json"))
    closed = adapter.parse_payment_event(message_for("event_dispute_resolved.json"))

    assert opened.kind is PaymentEventKind.DISPUTE_OPENED
    assert (opened.provider_reference, opened.dispute_reference) == (
        ORDER,
        "PP-D-27803",
    )
    assert (opened.amount, opened.dispute_status) == (1050, "OPEN")
    assert closed.kind is PaymentEventKind.DISPUTE_CLOSED
    assert closed.dispute_status == "RESOLVED_SELLER_FAVOUR"


def test_other_events_are_ignored(adapter):
    message = WebhookMessage(
        event_type="CHECKOUT.ORDER.APPROVED", dedupe_key="WH-1", payload={}
    )
    assert adapter.parse_payment_event(message) is None


def test_verify_endpoint_down_answers_503_and_stores_nothing(account, mocked, client):
    from integrations.models import WebhookEvent

    mocked.post(VERIFY_URL, status=503, json={"name": "SERVICE_UNAVAILABLE"})
    response = client.post(
        f"/webhooks/{account.slug}/",
        data=event_body("event_capture_completed.json"),
        content_type="application/json",
        headers=transmission(),
    )

    # Not a 500 page: PayPal is asked to deliver again later.
    assert response.status_code == 503
    assert response["Retry-After"] == "60"
    assert response.json()["error"]["code"] == "verification_unavailable"
    assert SECRET not in response.content.decode()
    assert WebhookEvent.objects.count() == 0


@pytest.mark.parametrize("details", [{"issue": "X"}, "text", [], ["not an object"]])
def test_a_4xx_with_odd_details_is_still_our_error(details):
    import json as json_module

    import requests as requests_module

    from integrations.errors import ProviderError
    from payments.providers.paypal_errors import client_error

    response = requests_module.Response()
    response.status_code = 422
    response._content = json_module.dumps(
        {"name": "UNPROCESSABLE_ENTITY", "details": details}
    ).encode()

    error = client_error(response)

    assert isinstance(error, ProviderError)
    assert error.provider_code == "UNPROCESSABLE_ENTITY"
