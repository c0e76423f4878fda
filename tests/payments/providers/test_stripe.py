"""The Stripe adapter against ``responses`` fixtures shaped like Stripe's
published examples (tests/fixtures/stripe/, from stripe/openapi fixtures3.json),
and against the local fault server for transport faults."""

import copy
import json
import logging
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import responses
import stripe

from integrations.errors import ConfigurationError, NotProcessed, Rejected, Unknown
from integrations.models import ProviderCall
from integrations.providers.base import WebhookMessage
from integrations.testing.faultserver import (
    RefusingPort,
    fault_server,
    hang,
    malformed_json,
    respond,
)
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
from payments.providers.stripe import StripeAdapter
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "stripe"
API = "https://api.stripe.com"
SECRET_KEY = "sk_test_51SwitchyardSecretKey000000000000"
WEBHOOK_SECRET = "whsec_switchyard_test_signing_secret"
FAST = {
    "max_attempts": 2,
    "backoff_base_seconds": 0.001,
    "backoff_cap_seconds": 0.001,
    "retry_after_cap_seconds": 0.5,
    "connect_timeout": 0.5,
    "read_timeout": 0.3,
    "breaker_consecutive_failures": 50,
}


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


ERRORS = load("errors.json")


def intent(**changes) -> dict:
    body = load("payment_intent.json")
    body.update(changes)
    return body


def payment(**changes) -> PaymentRequest:
    values = {
        "amount": 2000,
        "currency": "EUR",
        "source_token": "pm_1Pgc75B7WZ01zgkWlHVgdEGJ",
        "capture": True,
        "idempotency_key": "pay-key-0001",
        "order_id": "order-42",
    }
    values.update(changes)
    return PaymentRequest(**values)


def form(call) -> dict[str, list[str]]:
    return parse_qs(call.request.body or "")


@pytest.fixture
def account():
    return ProviderAccountFactory(
        provider="stripe",
        mode="test",
        settings=dict(FAST),
        credentials={"secret_key": SECRET_KEY, "webhook_secret": WEBHOOK_SECRET},
    )


@pytest.fixture
def adapter(account):
    return StripeAdapter(account)


@pytest.fixture
def api():
    with responses.RequestsMock() as mock:
        yield mock


# --- Creating payments --------------------------------------------------------


def test_capture_payment_sends_one_confirmed_intent(adapter, api, caplog):
    caplog.set_level(logging.DEBUG)
    api.post(f"{API}/v1/payment_intents", json=intent())

    result = adapter.authorize(payment(metadata={"cart": "c-9"}))

    (call,) = api.calls
    sent = form(call)
    assert sent["amount"] == ["2000"]
    assert sent["currency"] == ["eur"]
    assert sent["payment_method"] == ["pm_1Pgc75B7WZ01zgkWlHVgdEGJ"]
    assert sent["confirm"] == ["true"]
    assert sent["capture_method"] == ["automatic"]
    assert sent["metadata[order_id]"] == ["order-42"]
    assert sent["metadata[cart]"] == ["c-9"]
    assert sent["metadata[switchyard_idempotency_key]"] == ["pay-key-0001"]
    assert sent["automatic_payment_methods[allow_redirects]"] == ["never"]
    assert sent["expand[0]"] == ["payment_method"]
    assert call.request.headers["Idempotency-Key"] == "pay-key-0001"
    assert call.request.headers["Authorization"] == f"Bearer {SECRET_KEY}"
    assert call.request.headers["X-Correlation-ID"]
    assert result.status is ProviderStatus.CAPTURED
    assert result.provider_reference == "pi_1PgafyB7WZ01zgkWSjxsAJo3"
    assert (result.amount_authorized, result.amount_captured) == (2000, 2000)
    assert (result.currency, result.card_brand, result.card_last4) == (
        "EUR",
        "visa",
        "4242",
    )
    assert result.client_secret == ""  # only handed out for requires_action
    row = ProviderCall.objects.get()
    assert (row.operation, row.outcome, row.idempotency_key, row.attempts) == (
        "create_payment",
        "success",
        "pay-key-0001",
        1,
    )
    _assert_secret_nowhere(caplog, row)


def _assert_secret_nowhere(caplog, row: ProviderCall) -> None:
    for record in caplog.records:
        assert SECRET_KEY not in record.getMessage()
        assert SECRET_KEY not in json.dumps(record.__dict__, default=str)
    values = {f.name: getattr(row, f.name) for f in ProviderCall._meta.fields}
    assert SECRET_KEY not in json.dumps(values, default=str)


def test_authorize_only_uses_manual_capture(adapter, api):
    api.post(
        f"{API}/v1/payment_intents",
        json=intent(
            status="requires_capture", amount_capturable=2000, amount_received=0
        ),
    )

    result = adapter.authorize(payment(capture=False))

    assert form(api.calls[0])["capture_method"] == ["manual"]
    assert result.status is ProviderStatus.AUTHORIZED
    assert (result.amount_authorized, result.amount_captured) == (2000, 0)


def test_zero_decimal_jpy_passes_unchanged(adapter, api):
    api.post(
        f"{API}/v1/payment_intents",
        json=intent(amount=5000, amount_received=5000, currency="jpy"),
    )

    result = adapter.authorize(payment(amount=5000, currency="JPY"))

    sent = form(api.calls[0])
    assert (sent["amount"], sent["currency"]) == (["5000"], ["jpy"])
    assert (result.amount_captured, result.currency) == (5000, "JPY")


def test_three_decimal_kwd_is_sent_in_fils(adapter, api):
    api.post(
        f"{API}/v1/payment_intents",
        json=intent(amount=1230, amount_received=1230, currency="kwd"),
    )

    result = adapter.authorize(payment(amount=1230, currency="KWD"))

    assert form(api.calls[0])["amount"] == ["1230"]
    assert (result.amount_captured, result.currency) == (1230, "KWD")


def test_kwd_amount_not_ending_in_zero_is_refused_before_sending(adapter, api):
    with pytest.raises(Rejected) as caught:
        adapter.authorize(payment(amount=1235, currency="KWD"))

    assert caught.value.code == "invalid_amount"
    assert len(api.calls) == 0
    assert not ProviderCall.objects.exists()


def test_requires_action_surfaces_client_secret_and_next_action(adapter, api):
    body = load("payment_intent_requires_action.json")
    api.post(f"{API}/v1/payment_intents", json=body)

    result = adapter.authorize(payment(return_url="https://shop.example/return"))

    sent = form(api.calls[0])
    assert sent["return_url"] == ["https://shop.example/return"]
    assert "automatic_payment_methods[enabled]" not in sent
    assert result.status is ProviderStatus.REQUIRES_ACTION
    assert result.client_secret == body["client_secret"]
    assert result.next_action["type"] == "use_stripe_sdk"
    assert result.amount_captured == 0


def test_off_session_charge_of_a_saved_method(adapter, api):
    api.post(f"{API}/v1/payment_intents", json=intent(customer="cus_QXg1o8vcGmoR32"))

    result = adapter.charge_saved(
        payment(provider_customer_id="cus_QXg1o8vcGmoR32", off_session=True)
    )

    sent = form(api.calls[0])
    assert sent["customer"] == ["cus_QXg1o8vcGmoR32"]
    assert sent["off_session"] == ["true"]
    assert sent["confirm"] == ["true"]
    assert "automatic_payment_methods[enabled]" not in sent
    assert result.status is ProviderStatus.CAPTURED


def test_failed_intent_found_later_is_failed(adapter, api):
    api.get(
        f"{API}/v1/payment_intents/pi_1PgafyB7WZ01zgkWSjxsAJo3",
        json=intent(
            status="requires_payment_method",
            amount_received=0,
            last_payment_error={"type": "card_error", "code": "card_declined"},
        ),
    )

    result = adapter.retrieve(provider_reference="pi_1PgafyB7WZ01zgkWSjxsAJo3")

    assert result.status is ProviderStatus.FAILED


# --- Errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "code", "provider_code"),
    [
        ("generic_decline", "card_declined", "generic_decline"),
        ("do_not_honor", "card_declined", "do_not_honor"),
        ("insufficient_funds", "insufficient_funds", "insufficient_funds"),
        ("expired_card", "expired_card", "expired_card"),
        ("incorrect_cvc", "incorrect_cvc", "incorrect_cvc"),
        ("incorrect_number", "incorrect_number", "incorrect_number"),
        ("lost_card", "lost_or_stolen", "lost_card"),
        ("stolen_card", "lost_or_stolen", "stolen_card"),
        ("fraudulent", "fraudulent", "fraudulent"),
        ("processing_error", "processing_error", "processing_error"),
        (
            "authentication_required",
            "authentication_required",
            "authentication_required",
        ),
    ],
)
def test_declines_are_rejected_with_our_code(
    adapter, api, fixture, code, provider_code
):
    api.post(f"{API}/v1/payment_intents", status=402, json=ERRORS[fixture])

    with pytest.raises(Rejected) as caught:
        adapter.authorize(payment())

    error = caught.value
    assert (error.code, error.provider_code, error.http_status) == (
        code,
        provider_code,
        402,
    )
    assert error.message == ERRORS[fixture]["error"]["message"]
    assert len(api.calls) == 1  # a decline is final: never retried
    row = ProviderCall.objects.get()
    assert (row.outcome, row.error_code) == ("rejected", code)


def test_invalid_request_is_rejected(adapter, api):
    api.post(f"{API}/v1/payment_intents", status=400, json=ERRORS["parameter_missing"])

    with pytest.raises(Rejected) as caught:
        adapter.authorize(payment())

    assert (caught.value.code, caught.value.provider_code) == (
        "bad_request",
        "parameter_missing",
    )
    assert len(api.calls) == 1


def test_bad_secret_key_is_not_processed_and_not_retried(adapter, api):
    api.post(f"{API}/v1/payment_intents", status=401, json=ERRORS["invalid_api_key"])

    with pytest.raises(NotProcessed) as caught:
        adapter.authorize(payment())

    assert (caught.value.code, caught.value.http_status) == (
        "authentication_failed",
        401,
    )
    # Stripe's own text quotes part of the key; ours does not.
    assert "sk_test" not in caught.value.message
    assert len(api.calls) == 1


def test_permission_error_is_not_processed(adapter, api):
    api.post(f"{API}/v1/payment_intents", status=403, json=ERRORS["permission"])

    with pytest.raises(NotProcessed) as caught:
        adapter.authorize(payment())

    assert caught.value.code == "permission_denied"


def test_idempotency_key_reused_with_other_parameters_is_a_conflict(adapter, api):
    api.post(f"{API}/v1/payment_intents", status=400, json=ERRORS["idempotency_error"])

    with pytest.raises(Rejected) as caught:
        adapter.authorize(payment())

    assert caught.value.code == "idempotency_conflict"


def test_idempotency_key_in_flight_is_unknown(adapter, api):
    api.post(
        f"{API}/v1/payment_intents", status=409, json=ERRORS["idempotency_key_in_use"]
    )

    with pytest.raises(Unknown) as caught:
        adapter.authorize(payment())

    assert caught.value.code == "idempotency_key_in_use"


def test_rate_limit_is_not_processed_with_retry_after(adapter, api):
    api.post(
        f"{API}/v1/payment_intents",
        status=429,
        json=ERRORS["rate_limit"],
        headers={"Retry-After": "30"},
    )

    with pytest.raises(NotProcessed) as caught:
        adapter.authorize(payment())

    assert (caught.value.code, caught.value.retry_after) == ("too_many_requests", 30)
    # Longer than the account's Retry-After cap: not waited for, not retried.
    assert len(api.calls) == 1


def test_rate_limit_is_retried_with_the_same_idempotency_key(adapter, api):
    api.post(
        f"{API}/v1/payment_intents",
        status=429,
        json=ERRORS["rate_limit"],
        headers={"Retry-After": "0"},
    )
    api.post(f"{API}/v1/payment_intents", json=intent())

    result = adapter.authorize(payment())

    assert result.status is ProviderStatus.CAPTURED
    keys = [c.request.headers["Idempotency-Key"] for c in api.calls]
    assert keys == ["pay-key-0001", "pay-key-0001"]
    assert ProviderCall.objects.get().attempts == 2


def test_server_error_is_unknown_after_a_replay_safe_retry(adapter, api):
    api.post(f"{API}/v1/payment_intents", status=500, json=ERRORS["api_error"])

    with pytest.raises(Unknown) as caught:
        adapter.authorize(payment())

    assert (caught.value.code, caught.value.http_status) == ("server_error", 500)
    # Stripe replays a POST by its Idempotency-Key, so the retry is safe.
    assert [c.request.headers["Idempotency-Key"] for c in api.calls] == [
        "pay-key-0001",
        "pay-key-0001",
    ]
    assert ProviderCall.objects.get().outcome == "unknown"


def test_malformed_json_is_unknown(adapter, api):
    api.post(f"{API}/v1/payment_intents", body='{"id": "pi_123", "status": ')

    with pytest.raises(Unknown) as caught:
        adapter.authorize(payment())

    assert caught.value.code == "malformed_response"


def test_read_timeout_over_a_real_socket_is_unknown(adapter, monkeypatch):
    with fault_server(hang_limit=2) as server:
        monkeypatch.setattr(StripeAdapter, "api_base", server.url)
        server.route("POST", "/v1/payment_intents", hang())

        with pytest.raises(Unknown) as caught:
            adapter.authorize(payment())

        seen = server.requests_for("POST", "/v1/payment_intents")
    assert caught.value.code == "read_timeout"
    assert {r.header("Idempotency-Key") for r in seen} == {"pay-key-0001"}


def test_connection_refused_is_not_processed(adapter, monkeypatch):
    with RefusingPort() as port:
        monkeypatch.setattr(StripeAdapter, "api_base", port.url)

        with pytest.raises(NotProcessed) as caught:
            adapter.authorize(payment())

    assert caught.value.code == "connection_refused"
    assert ProviderCall.objects.get().outcome == "not_processed"


def test_malformed_json_over_a_real_socket_is_unknown(adapter, monkeypatch):
    with fault_server() as server:
        monkeypatch.setattr(StripeAdapter, "api_base", server.url)
        server.route("POST", "/v1/payment_intents", malformed_json())

        with pytest.raises(Unknown) as caught:
            adapter.authorize(payment())

    assert caught.value.code == "malformed_response"


def test_success_over_a_real_socket(adapter, monkeypatch):
    with fault_server() as server:
        monkeypatch.setattr(StripeAdapter, "api_base", server.url)
        server.route("POST", "/v1/payment_intents", respond(200, json=intent()))

        result = adapter.authorize(payment())

        (seen,) = server.requests_for("POST", "/v1/payment_intents")
    assert result.status is ProviderStatus.CAPTURED
    assert seen.header("Idempotency-Key") == "pay-key-0001"
    assert seen.header("Authorization") == f"Bearer {SECRET_KEY}"


# --- Capture, void, refund ----------------------------------------------------


def test_partial_capture(adapter, api):
    api.post(
        f"{API}/v1/payment_intents/pi_1PgafyB7WZ01zgkWSjxsAJo3/capture",
        json=intent(amount=2000, amount_received=1500),
    )

    result = adapter.capture(
        CaptureRequest(
            provider_reference="pi_1PgafyB7WZ01zgkWSjxsAJo3",
            amount=1500,
            currency="EUR",
            idempotency_key="cap-key-1",
        )
    )

    sent = form(api.calls[0])
    assert sent["amount_to_capture"] == ["1500"]
    assert "final_capture" not in sent
    assert api.calls[0].request.headers["Idempotency-Key"] == "cap-key-1"
    assert (result.amount_authorized, result.amount_captured) == (2000, 1500)


def test_non_final_capture_asks_stripe_to_keep_the_authorization(adapter, api):
    api.post(
        f"{API}/v1/payment_intents/pi_1/capture",
        json=intent(status="requires_capture", amount_capturable=1000),
    )

    adapter.capture(
        CaptureRequest(
            provider_reference="pi_1",
            amount=1000,
            currency="EUR",
            idempotency_key="cap-key-2",
            final=False,
        )
    )

    assert form(api.calls[0])["final_capture"] == ["false"]


def test_capture_in_the_wrong_state_is_rejected(adapter, api):
    api.post(
        f"{API}/v1/payment_intents/pi_1/capture",
        status=400,
        json=ERRORS["payment_intent_unexpected_state"],
    )

    with pytest.raises(Rejected) as caught:
        adapter.capture(
            CaptureRequest(
                provider_reference="pi_1",
                amount=1000,
                currency="EUR",
                idempotency_key="k",
            )
        )

    assert caught.value.provider_code == "payment_intent_unexpected_state"


def test_void_cancels_the_intent(adapter, api):
    api.post(
        f"{API}/v1/payment_intents/pi_1PgafyB7WZ01zgkWSjxsAJo3/cancel",
        json=intent(status="canceled", amount_received=0),
    )

    result = adapter.void(
        provider_reference="pi_1PgafyB7WZ01zgkWSjxsAJo3", idempotency_key="void-1"
    )

    assert api.calls[0].request.headers["Idempotency-Key"] == "void-1"
    assert result.status is ProviderStatus.VOIDED


def test_partial_and_repeated_refunds(adapter, api):
    first = load("refund.json")
    second = dict(load("refund.json"), id="re_2", amount=700, status="pending")
    api.post(f"{API}/v1/refunds", json=first)
    api.post(f"{API}/v1/refunds", json=second)

    one = adapter.refund(
        RefundRequest(
            provider_reference="pi_1PgafyB7WZ01zgkWSjxsAJo3",
            amount=500,
            currency="EUR",
            idempotency_key="ref-1",
            reason="requested_by_customer",
        )
    )
    two = adapter.refund(
        RefundRequest(
            provider_reference="pi_1PgafyB7WZ01zgkWSjxsAJo3",
            amount=700,
            currency="EUR",
            idempotency_key="ref-2",
            reason="item arrived broken",
        )
    )

    sent_one, sent_two = (form(c) for c in api.calls)
    assert sent_one["payment_intent"] == ["pi_1PgafyB7WZ01zgkWSjxsAJo3"]
    assert (sent_one["amount"], sent_one["reason"]) == (
        ["500"],
        ["requested_by_customer"],
    )
    assert "reason" not in sent_two
    assert sent_two["metadata[reason]"] == ["item arrived broken"]
    assert [c.request.headers["Idempotency-Key"] for c in api.calls] == [
        "ref-1",
        "ref-2",
    ]
    assert (one.provider_reference, one.status, one.amount) == (
        "re_1Pgc72B7WZ01zgkWqPvrRrPE",
        RefundStatus.SUCCEEDED,
        500,
    )
    assert (two.status, two.amount, two.currency) == (RefundStatus.PENDING, 700, "EUR")


def test_refund_of_jpy_passes_unchanged(adapter, api):
    api.post(
        f"{API}/v1/refunds", json=dict(load("refund.json"), amount=300, currency="jpy")
    )

    result = adapter.refund(
        RefundRequest(
            provider_reference="pi_1", amount=300, currency="JPY", idempotency_key="r"
        )
    )

    assert form(api.calls[0])["amount"] == ["300"]
    assert (result.amount, result.currency) == (300, "JPY")


# --- Reconciliation -----------------------------------------------------------


def test_retrieve_by_reference(adapter, api):
    api.get(
        f"{API}/v1/payment_intents/pi_1PgafyB7WZ01zgkWSjxsAJo3",
        json=intent(
            status="requires_capture", amount_capturable=2000, amount_received=0
        ),
    )

    result = adapter.retrieve(provider_reference="pi_1PgafyB7WZ01zgkWSjxsAJo3")

    assert "Idempotency-Key" not in api.calls[0].request.headers
    assert result.status is ProviderStatus.AUTHORIZED


def test_retrieve_of_an_unknown_reference_is_none(adapter, api):
    api.get(
        f"{API}/v1/payment_intents/pi_missing",
        status=404,
        json=ERRORS["resource_missing"],
    )

    assert adapter.retrieve(provider_reference="pi_missing") is None


def test_retrieve_by_idempotency_key_searches_metadata(adapter, api):
    api.get(f"{API}/v1/payment_intents/search", json=load("payment_intent_search.json"))

    result = adapter.retrieve(idempotency_key="pay-key-0001")

    query = parse_qs(urlparse(api.calls[0].request.url).query)
    assert query["query"] == ["metadata['switchyard_idempotency_key']:'pay-key-0001'"]
    assert result.provider_reference == "pi_1PgafyB7WZ01zgkWSjxsAJo3"
    assert result.status is ProviderStatus.CAPTURED


def test_retrieve_by_idempotency_key_finds_nothing(adapter, api):
    empty = dict(load("payment_intent_search.json"), data=[])
    api.get(f"{API}/v1/payment_intents/search", json=empty)

    assert adapter.retrieve(idempotency_key="never-sent") is None


# --- Saved methods ------------------------------------------------------------


def test_save_method_creates_a_customer_and_attaches(adapter, api):
    api.post(f"{API}/v1/customers", json=load("customer.json"))
    method = dict(load("payment_method.json"), customer="cus_QXg1o8vcGmoR32")
    api.post(
        f"{API}/v1/payment_methods/pm_1Pgc75B7WZ01zgkWlHVgdEGJ/attach", json=method
    )

    saved = adapter.save_method(
        SaveMethodRequest(
            customer_reference="cust-7",
            source_token="pm_1Pgc75B7WZ01zgkWlHVgdEGJ",
            idempotency_key="save-1",
            customer_email="jenny@example.com",
        )
    )

    customer_call, attach_call = api.calls
    assert form(customer_call)["email"] == ["jenny@example.com"]
    assert form(customer_call)["metadata[customer_reference]"] == ["cust-7"]
    assert form(attach_call)["customer"] == ["cus_QXg1o8vcGmoR32"]
    keys = {c.request.headers["Idempotency-Key"] for c in api.calls}
    assert len(keys) == 2 and all(k.startswith("save-1") for k in keys)
    assert (saved.provider_customer_id, saved.provider_method_id) == (
        "cus_QXg1o8vcGmoR32",
        "pm_1Pgc75B7WZ01zgkWlHVgdEGJ",
    )
    assert (saved.card_brand, saved.card_last4, saved.exp_month, saved.exp_year) == (
        "visa",
        "4242",
        8,
        2030,
    )


def test_save_method_reuses_an_existing_customer(adapter, api):
    api.post(
        f"{API}/v1/payment_methods/pm_2/attach",
        json=dict(load("payment_method.json"), id="pm_2"),
    )

    saved = adapter.save_method(
        SaveMethodRequest(
            customer_reference="cust-7",
            source_token="pm_2",
            idempotency_key="save-2",
            provider_customer_id="cus_existing",
        )
    )

    (call,) = api.calls
    assert form(call)["customer"] == ["cus_existing"]
    assert saved.provider_customer_id == "cus_existing"


# --- Health and credentials ---------------------------------------------------


def test_health_check_reads_the_balance(adapter, api):
    api.get(f"{API}/v1/balance", json=load("balance.json"))

    health = adapter.health_check()

    assert health.ok
    assert api.calls[0].request.headers["Authorization"] == f"Bearer {SECRET_KEY}"


def test_health_check_reports_a_bad_key(adapter, api):
    api.get(f"{API}/v1/balance", status=401, json=ERRORS["invalid_api_key"])

    with pytest.raises(NotProcessed) as caught:
        adapter.health_check()

    assert caught.value.code == "authentication_failed"


def test_live_key_on_a_test_account_is_refused_before_sending(api):
    account = ProviderAccountFactory(
        provider="stripe",
        mode="test",
        credentials={"secret_key": "sk_live_51Real", "webhook_secret": "whsec_x"},
    )

    with pytest.raises(ConfigurationError) as caught:
        StripeAdapter(account).authorize(payment())

    assert caught.value.code == "mode_mismatch"
    assert len(api.calls) == 0


def test_missing_secret_key_is_a_configuration_error(api):
    account = ProviderAccountFactory(provider="stripe", credentials={})

    with pytest.raises(ConfigurationError) as caught:
        StripeAdapter(account).health_check()

    assert caught.value.code == "missing_credentials"


# --- Webhooks -----------------------------------------------------------------


def event(
    event_type: str, obj: dict, event_id: str = "evt_1Pgc76B7WZ01zgkWwyRHS12y"
) -> bytes:
    body = load("event.json")
    body.update(id=event_id, type=event_type, data={"object": obj})
    return json.dumps(body).encode()


def signed(body: bytes, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None):
    header = stripe.WebhookSignature.generate_signature_header(
        body.decode(), secret, timestamp=timestamp
    )
    return {"Stripe-Signature": header}


def test_valid_webhook_is_verified(adapter):
    body = event("payment_intent.succeeded", intent())

    message = adapter.verify_webhook(body=body, headers=signed(body), url="")

    assert message.event_type == "payment_intent.succeeded"
    assert message.dedupe_key == "evt_1Pgc76B7WZ01zgkWwyRHS12y"
    assert message.occurred_at is not None
    assert message.payload["data"]["object"]["id"] == "pi_1PgafyB7WZ01zgkWSjxsAJo3"


def test_duplicate_delivery_has_the_same_dedupe_key(adapter):
    body = event("payment_intent.succeeded", intent())

    first = adapter.verify_webhook(body=body, headers=signed(body), url="")
    again = adapter.verify_webhook(body=body, headers=signed(body), url="")

    assert first.dedupe_key == again.dedupe_key


def test_forged_webhook_is_refused(adapter):
    body = event("payment_intent.succeeded", intent())

    with pytest.raises(WebhookVerificationError) as caught:
        adapter.verify_webhook(
            body=body, headers=signed(body, secret="whsec_attacker"), url=""
        )

    assert caught.value.code == WebhookVerificationError.FORGED
    assert caught.value.http_status == 401


def test_tampered_body_is_refused(adapter):
    body = event("payment_intent.succeeded", intent())
    headers = signed(body)
    tampered = body.replace(b'"amount": 2000', b'"amount": 1')

    with pytest.raises(WebhookVerificationError) as caught:
        adapter.verify_webhook(body=tampered, headers=headers, url="")

    assert caught.value.code == WebhookVerificationError.FORGED


def test_stale_webhook_is_refused(adapter):
    body = event("payment_intent.succeeded", intent())
    old = int(time.time()) - 301

    with pytest.raises(WebhookVerificationError) as caught:
        adapter.verify_webhook(body=body, headers=signed(body, timestamp=old), url="")

    assert caught.value.code == WebhookVerificationError.STALE


def test_webhook_within_tolerance_is_accepted(adapter):
    body = event("payment_intent.succeeded", intent())
    recent = int(time.time()) - 250

    message = adapter.verify_webhook(
        body=body, headers=signed(body, timestamp=recent), url=""
    )

    assert message.dedupe_key


def test_webhook_without_signature_header_is_refused(adapter):
    with pytest.raises(WebhookVerificationError) as caught:
        adapter.verify_webhook(body=b"{}", headers={}, url="")

    assert caught.value.code == WebhookVerificationError.MISSING_HEADER


def test_webhook_with_garbage_signature_header_is_malformed(adapter):
    with pytest.raises(WebhookVerificationError) as caught:
        adapter.verify_webhook(
            body=b"{}", headers={"Stripe-Signature": "nonsense"}, url=""
        )

    assert caught.value.code == WebhookVerificationError.MALFORMED


def test_webhook_without_a_secret_never_passes(account):
    account.set_credentials({"secret_key": SECRET_KEY})
    account.save()
    body = event("payment_intent.succeeded", intent())

    with pytest.raises(WebhookVerificationError) as caught:
        StripeAdapter(account).verify_webhook(body=body, headers=signed(body), url="")

    assert caught.value.code == WebhookVerificationError.MISSING_SECRET


def test_signed_body_that_is_not_json_is_malformed(adapter):
    body = b"not json at all"

    with pytest.raises(WebhookVerificationError) as caught:
        adapter.verify_webhook(body=body, headers=signed(body), url="")

    assert caught.value.code == WebhookVerificationError.MALFORMED


def _parsed(adapter, event_type: str, obj: dict):
    body = event(event_type, obj)
    return adapter.parse_payment_event(
        adapter.verify_webhook(body=body, headers=signed(body), url="")
    )


def test_payment_events_are_translated(adapter):
    succeeded = _parsed(
        adapter, "payment_intent.succeeded", intent(amount_received=1500)
    )
    authorized = _parsed(
        adapter,
        "payment_intent.amount_capturable_updated",
        intent(status="requires_capture", amount_capturable=2000, amount_received=0),
    )
    failed = _parsed(
        adapter,
        "payment_intent.payment_failed",
        intent(status="requires_payment_method"),
    )

    assert (succeeded.kind, succeeded.amount, succeeded.currency) == (
        PaymentEventKind.SUCCEEDED,
        1500,
        "EUR",
    )
    assert succeeded.provider_reference == "pi_1PgafyB7WZ01zgkWSjxsAJo3"
    assert (authorized.kind, authorized.amount) == (PaymentEventKind.AUTHORIZED, 2000)
    assert failed.kind is PaymentEventKind.FAILED
    assert succeeded.occurred_at is not None


def test_refund_event_carries_the_total_refunded(adapter):
    charge = copy.deepcopy(load("charge.json"))
    charge.update(
        payment_intent="pi_1PgafyB7WZ01zgkWSjxsAJo3",
        amount=2000,
        amount_refunded=1200,
        refunded=False,
        currency="jpy",
    )
    charge["refunds"]["data"] = [load("refund.json")]

    parsed = _parsed(adapter, "charge.refunded", charge)

    assert (parsed.kind, parsed.amount, parsed.currency) == (
        PaymentEventKind.REFUNDED,
        1200,
        "JPY",
    )
    assert parsed.provider_reference == "pi_1PgafyB7WZ01zgkWSjxsAJo3"
    assert parsed.refund_reference == "re_1Pgc72B7WZ01zgkWqPvrRrPE"


def test_dispute_events_are_translated(adapter):
    dispute = dict(load("dispute.json"), payment_intent="pi_1PgafyB7WZ01zgkWSjxsAJo3")
    opened = _parsed(adapter, "charge.dispute.created", dispute)
    closed = _parsed(adapter, "charge.dispute.closed", dict(dispute, status="lost"))

    assert (opened.kind, opened.dispute_reference, opened.dispute_status) == (
        PaymentEventKind.DISPUTE_OPENED,
        "dp_1Pgc71B7WZ01zgkWMevJiAUx",
        "warning_needs_response",
    )
    assert (opened.amount, opened.currency) == (1000, "USD")
    assert opened.provider_reference == "pi_1PgafyB7WZ01zgkWSjxsAJo3"
    assert (closed.kind, closed.dispute_status) == (
        PaymentEventKind.DISPUTE_CLOSED,
        "lost",
    )


def test_other_events_are_ignored(adapter):
    message = WebhookMessage(
        event_type="plan.created", dedupe_key="evt_1", payload=load("event.json")
    )

    assert adapter.parse_payment_event(message) is None


def test_transport_exception_mapping_keeps_requests_classification():
    from payments.providers.stripe import map_stripe_error

    refused = stripe.APIConnectionError("x")
    refused.__cause__ = requests.ConnectTimeout("no connection")
    mapped = map_stripe_error(refused)

    assert isinstance(mapped, NotProcessed)
    assert mapped.code == "connect_timeout"
