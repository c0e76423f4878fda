"""The Square adapter against ``responses`` fixtures built from Square's
published OpenAPI examples (tests/fixtures/square/), and against the local
fault server for transport faults."""

import copy
import json
import logging
from pathlib import Path

import pytest
import responses

from integrations.errors import ConfigurationError, NotProcessed, Rejected, Unknown
from integrations.models import ProviderCall, WebhookEvent
from integrations.testing.faultserver import RefusingPort, fault_server, hang
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
from payments.providers.square import (
    SQUARE_VERSION,
    SquareAdapter,
    sign_webhook,
    square_idempotency_key,
)
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "square"
SANDBOX = "https://connect.squareupsandbox.com"
TOKEN = "EAAAl-switchyard-sandbox-access-token-000000"
SIGNATURE_KEY = "sq-signature-key-switchyard"
NOTIFICATION_URL = "https://shop.example/webhooks/square-main/"
LOCATION = "L88917AVBK2S5"
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
PAYMENT_ID = "R2B3Z8WMVt3EAmzYWLZvz7Y69EbZY"


def created(**changes) -> dict:
    body = load("create_payment.json")
    body["payment"].update(changes)
    return body


def approved(**changes) -> dict:
    body = load("create_payment_approved.json")
    body["payment"].update(changes)
    return body


def payment(**changes) -> PaymentRequest:
    values = {
        "amount": 1000,
        "currency": "USD",
        "source_token": "cnon:card-nonce-ok",
        "capture": True,
        "idempotency_key": "pay-key-0001",
        "order_id": "order-42",
    }
    values.update(changes)
    return PaymentRequest(**values)


def sent(call) -> dict:
    return json.loads(call.request.body)


@pytest.fixture
def account():
    return ProviderAccountFactory(
        provider="square",
        mode="test",
        settings={
            **FAST,
            "location_id": LOCATION,
            "notification_url": NOTIFICATION_URL,
        },
        credentials={"access_token": TOKEN, "webhook_signature_key": SIGNATURE_KEY},
    )


@pytest.fixture
def adapter(account):
    return SquareAdapter(account)


@pytest.fixture
def api():
    with responses.RequestsMock() as mock:
        yield mock


# --- Idempotency keys ---------------------------------------------------------


def test_square_keys_are_short_and_deterministic():
    long_key = "k" * 200

    assert len(square_idempotency_key(long_key)) <= 45
    assert square_idempotency_key(long_key) == square_idempotency_key(long_key)
    assert square_idempotency_key("a") != square_idempotency_key("b")
    assert SquareAdapter.max_idempotency_key_length == 45
    assert SquareAdapter.supports_cancel_by_idempotency_key


# --- Creating payments --------------------------------------------------------


def test_capture_payment_is_a_delayed_capture_then_a_complete(adapter, api, caplog):
    # Never autocomplete=true: a lost create must stay cancellable by key.
    caplog.set_level(logging.DEBUG)
    api.post(f"{SANDBOX}/v2/payments", json=approved())
    completed = load("complete_payment.json")
    completed["payment"].update(
        id=PAYMENT_ID,
        amount_money={"amount": 1000, "currency": "USD"},
        approved_money={"amount": 1000, "currency": "USD"},
        card_details=approved()["payment"]["card_details"],
    )
    complete = api.post(f"{SANDBOX}/v2/payments/{PAYMENT_ID}/complete", json=completed)

    result = adapter.authorize(
        payment(customer_email="amelia@example.com", description="2 mugs")
    )

    call = api.calls[0]
    body = sent(call)
    assert body == {
        "source_id": "cnon:card-nonce-ok",
        "idempotency_key": square_idempotency_key("pay-key-0001"),
        "amount_money": {"amount": 1000, "currency": "USD"},
        "autocomplete": False,
        "delay_action": "CANCEL",
        "reference_id": "order-42",
        "location_id": LOCATION,
        "buyer_email_address": "amelia@example.com",
        "note": "2 mugs",
    }
    assert complete.call_count == 1
    assert sent(api.calls[1]) == {
        "version_token": approved()["payment"]["version_token"]
    }
    headers = call.request.headers
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Square-Version"] == SQUARE_VERSION
    assert "Idempotency-Key" not in headers  # Square reads it from the body
    assert headers["X-Correlation-ID"]
    assert result.status is ProviderStatus.CAPTURED
    assert result.provider_reference == PAYMENT_ID
    assert (result.amount_authorized, result.amount_captured) == (1000, 1000)
    assert (result.card_brand, result.card_last4) == ("visa", "1111")
    row = ProviderCall.objects.get(operation="create_payment")
    assert (row.operation, row.outcome, row.idempotency_key) == (
        "create_payment",
        "success",
        square_idempotency_key("pay-key-0001"),
    )
    for record in caplog.records:
        assert TOKEN not in json.dumps(record.__dict__, default=str)
    values = {f.name: getattr(row, f.name) for f in ProviderCall._meta.fields}
    assert TOKEN not in json.dumps(values, default=str)


def test_authorize_only_sets_autocomplete_false(adapter, api):
    api.post(f"{SANDBOX}/v2/payments", json=approved())

    result = adapter.authorize(payment(capture=False))

    assert sent(api.calls[0])["autocomplete"] is False
    assert result.status is ProviderStatus.AUTHORIZED
    assert (result.amount_authorized, result.amount_captured) == (1000, 0)
    assert result.raw_status == "APPROVED"


def test_long_order_ids_are_cut_to_squares_limit(adapter, api):
    api.post(f"{SANDBOX}/v2/payments", json=created())

    adapter.authorize(payment(order_id="o" * 60))

    assert len(sent(api.calls[0])["reference_id"]) == 40


@pytest.mark.parametrize(("currency", "amount"), [("JPY", 5000), ("KWD", 1235)])
def test_zero_and_three_decimal_amounts_pass_unchanged(adapter, api, currency, amount):
    money = {"amount": amount, "currency": currency}
    api.post(
        f"{SANDBOX}/v2/payments",
        json=created(amount_money=money, approved_money=money, total_money=money),
    )

    result = adapter.authorize(payment(amount=amount, currency=currency))

    assert sent(api.calls[0])["amount_money"] == money
    assert (result.amount_captured, result.currency) == (amount, currency)


def test_card_on_file_charge_names_the_customer(adapter, api):
    api.post(f"{SANDBOX}/v2/payments", json=created())

    adapter.charge_saved(
        payment(
            source_token="ccof:GaJGNaZa8x4OgDJn4GB",
            provider_customer_id="W92WH6P11H4Z77CTET0RNTGFW8",
            off_session=True,
        )
    )

    body = sent(api.calls[0])
    assert body["source_id"] == "ccof:GaJGNaZa8x4OgDJn4GB"
    assert body["customer_id"] == "W92WH6P11H4Z77CTET0RNTGFW8"


# --- Errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("square_code", "code"),
    [
        ("GENERIC_DECLINE", "card_declined"),
        ("CARD_DECLINED", "card_declined"),
        ("TRANSACTION_LIMIT", "card_declined"),
        ("ADDRESS_VERIFICATION_FAILURE", "card_declined"),
        ("INSUFFICIENT_FUNDS", "insufficient_funds"),
        ("CVV_FAILURE", "incorrect_cvc"),
        ("CARD_EXPIRED", "expired_card"),
        ("INVALID_CARD", "incorrect_number"),
        ("PAN_FAILURE", "incorrect_number"),
        ("CARD_DECLINED_VERIFICATION_REQUIRED", "authentication_required"),
    ],
)
def test_declines_are_rejected_with_our_code(adapter, api, square_code, code):
    api.post(f"{SANDBOX}/v2/payments", status=402, json=ERRORS[square_code])

    with pytest.raises(Rejected) as caught:
        adapter.authorize(payment())

    error = caught.value
    assert (error.code, error.provider_code, error.http_status) == (
        code,
        square_code,
        402,
    )
    assert error.message == f"Authorization error: '{square_code}'"
    assert len(api.calls) == 1
    assert ProviderCall.objects.get().outcome == "rejected"


def test_invalid_request_is_rejected(adapter, api):
    api.post(
        f"{SANDBOX}/v2/payments", status=400, json=ERRORS["MISSING_REQUIRED_PARAMETER"]
    )

    with pytest.raises(Rejected) as caught:
        adapter.authorize(payment())

    assert (caught.value.code, caught.value.provider_code) == (
        "bad_request",
        "MISSING_REQUIRED_PARAMETER",
    )


def test_reused_idempotency_key_is_a_conflict(adapter, api):
    api.post(
        f"{SANDBOX}/v2/payments", status=400, json=ERRORS["IDEMPOTENCY_KEY_REUSED"]
    )

    with pytest.raises(Rejected) as caught:
        adapter.authorize(payment())

    assert caught.value.code == "idempotency_conflict"


def test_bad_token_is_not_processed_and_not_retried(adapter, api):
    api.post(f"{SANDBOX}/v2/payments", status=401, json=ERRORS["UNAUTHORIZED"])

    with pytest.raises(NotProcessed) as caught:
        adapter.authorize(payment())

    assert (caught.value.code, caught.value.provider_code) == (
        "authentication_failed",
        "UNAUTHORIZED",
    )
    assert len(api.calls) == 1


def test_missing_scope_is_not_processed(adapter, api):
    api.post(f"{SANDBOX}/v2/payments", status=403, json=ERRORS["INSUFFICIENT_SCOPES"])

    with pytest.raises(NotProcessed) as caught:
        adapter.authorize(payment())

    assert caught.value.code == "permission_denied"


def test_rate_limit_is_not_processed_with_retry_after(adapter, api):
    api.post(
        f"{SANDBOX}/v2/payments",
        status=429,
        json=ERRORS["RATE_LIMITED"],
        headers={"Retry-After": "60"},
    )

    with pytest.raises(NotProcessed) as caught:
        adapter.authorize(payment())

    assert (caught.value.code, caught.value.retry_after) == ("too_many_requests", 60)
    assert len(api.calls) == 1


def test_rate_limit_retry_sends_the_same_body_key(adapter, api):
    api.post(
        f"{SANDBOX}/v2/payments",
        status=429,
        json=ERRORS["RATE_LIMITED"],
        headers={"Retry-After": "0"},
    )
    api.post(f"{SANDBOX}/v2/payments", json=created())

    result = adapter.authorize(payment())

    assert result.status is ProviderStatus.CAPTURED
    keys = [sent(c)["idempotency_key"] for c in api.calls]
    assert keys == [square_idempotency_key("pay-key-0001")] * 2


def test_server_error_is_unknown(adapter, api):
    api.post(f"{SANDBOX}/v2/payments", status=500, json=ERRORS["INTERNAL_SERVER_ERROR"])

    with pytest.raises(Unknown) as caught:
        adapter.authorize(payment())

    assert (caught.value.code, caught.value.http_status) == ("server_error", 500)
    keys = {sent(c)["idempotency_key"] for c in api.calls}
    assert keys == {square_idempotency_key("pay-key-0001")}


def test_temporary_error_is_unknown(adapter, api):
    api.post(f"{SANDBOX}/v2/payments", status=400, json=ERRORS["TEMPORARY_ERROR"])

    with pytest.raises(Unknown) as caught:
        adapter.authorize(payment())

    assert caught.value.provider_code == "TEMPORARY_ERROR"


def test_malformed_json_is_unknown(adapter, api):
    api.post(f"{SANDBOX}/v2/payments", body='{"payment": {"id": ')

    with pytest.raises(Unknown) as caught:
        adapter.authorize(payment())

    assert caught.value.code == "malformed_response"


def test_read_timeout_over_a_real_socket_is_unknown(adapter, monkeypatch):
    with fault_server(hang_limit=2) as server:
        monkeypatch.setattr(SquareAdapter, "base_urls", {"test": server.url})
        server.route("POST", "/v2/payments", hang())

        with pytest.raises(Unknown) as caught:
            adapter.authorize(payment())

        seen = server.requests_for("POST", "/v2/payments")
    assert caught.value.code == "read_timeout"
    assert {r.json()["idempotency_key"] for r in seen} == {
        square_idempotency_key("pay-key-0001")
    }


def test_connection_refused_is_not_processed(adapter, monkeypatch):
    with RefusingPort() as port:
        monkeypatch.setattr(SquareAdapter, "base_urls", {"test": port.url})

        with pytest.raises(NotProcessed) as caught:
            adapter.authorize(payment())

    assert caught.value.code == "connection_refused"


def test_live_accounts_use_the_production_host(api):
    account = ProviderAccountFactory(
        provider="square", mode="live", credentials={"access_token": TOKEN}
    )
    api.get(
        "https://connect.squareup.com/v2/locations", json=load("list_locations.json")
    )

    assert SquareAdapter(account).health_check().ok


def test_missing_token_is_a_configuration_error(api):
    account = ProviderAccountFactory(provider="square", credentials={})

    with pytest.raises(ConfigurationError):
        SquareAdapter(account).authorize(payment())
    assert len(api.calls) == 0


# --- Capture, void, cancel by key, refund -------------------------------------


def test_full_capture_completes_the_version_it_saw(adapter, api):
    api.get(f"{SANDBOX}/v2/payments/{PAYMENT_ID}", json=approved())
    api.post(
        f"{SANDBOX}/v2/payments/{PAYMENT_ID}/complete",
        json=created(),
    )

    result = adapter.capture(
        CaptureRequest(
            provider_reference=PAYMENT_ID,
            amount=1000,
            currency="USD",
            idempotency_key="cap-1",
        )
    )

    assert [c.request.method for c in api.calls] == ["GET", "POST"]
    version = approved()["payment"]["version_token"]
    assert sent(api.calls[1]) == {"version_token": version}
    assert result.status is ProviderStatus.CAPTURED


def test_partial_capture_lowers_the_amount_first(adapter, api):
    lowered = approved(amount_money={"amount": 600, "currency": "USD"})
    lowered["payment"]["version_token"] = "v-after-update"
    api.get(f"{SANDBOX}/v2/payments/{PAYMENT_ID}", json=approved())
    api.put(f"{SANDBOX}/v2/payments/{PAYMENT_ID}", json=lowered)
    api.post(
        f"{SANDBOX}/v2/payments/{PAYMENT_ID}/complete",
        json=created(amount_money={"amount": 600, "currency": "USD"}),
    )

    result = adapter.capture(
        CaptureRequest(
            provider_reference=PAYMENT_ID,
            amount=600,
            currency="USD",
            idempotency_key="cap-2",
        )
    )

    _, update, complete = api.calls
    assert sent(update)["payment"]["amount_money"] == {"amount": 600, "currency": "USD"}
    assert sent(update)["idempotency_key"] == square_idempotency_key("cap-2:amount")
    assert sent(complete) == {"version_token": "v-after-update"}
    assert (result.amount_authorized, result.amount_captured) == (1000, 600)


def test_void_cancels_the_payment(adapter, api):
    api.post(
        f"{SANDBOX}/v2/payments/{PAYMENT_ID}/cancel", json=load("cancel_payment.json")
    )

    result = adapter.void(provider_reference=PAYMENT_ID, idempotency_key="void-1")

    assert result.status is ProviderStatus.VOIDED


def test_cancel_by_idempotency_key_sends_the_derived_key(adapter, api):
    api.post(
        f"{SANDBOX}/v2/payments/cancel", json=load("cancel_by_idempotency_key.json")
    )

    adapter.cancel_by_idempotency_key("pay-key-0001")

    assert sent(api.calls[0]) == {
        "idempotency_key": square_idempotency_key("pay-key-0001")
    }


def test_partial_and_repeated_refunds(adapter, api):
    first = load("refund_payment.json")
    second = copy.deepcopy(first)
    second["refund"].update(
        id="second-refund",
        status="COMPLETED",
        amount_money={"amount": 300, "currency": "USD"},
    )
    api.post(f"{SANDBOX}/v2/refunds", json=first)
    api.post(f"{SANDBOX}/v2/refunds", json=second)

    one = adapter.refund(
        RefundRequest(
            provider_reference=PAYMENT_ID,
            amount=1000,
            currency="USD",
            idempotency_key="ref-1",
            reason="Example",
        )
    )
    two = adapter.refund(
        RefundRequest(
            provider_reference=PAYMENT_ID,
            amount=300,
            currency="USD",
            idempotency_key="ref-2",
        )
    )

    body_one, body_two = (sent(c) for c in api.calls)
    assert body_one == {
        "idempotency_key": square_idempotency_key("ref-1"),
        "payment_id": PAYMENT_ID,
        "amount_money": {"amount": 1000, "currency": "USD"},
        "reason": "Example",
    }
    assert body_two["idempotency_key"] == square_idempotency_key("ref-2")
    assert (one.status, one.amount) == (RefundStatus.PENDING, 1000)
    assert (two.provider_reference, two.status, two.amount) == (
        "second-refund",
        RefundStatus.SUCCEEDED,
        300,
    )


# --- Reconciliation and saved methods -----------------------------------------


def test_retrieve_by_reference(adapter, api):
    api.get(
        f"{SANDBOX}/v2/payments/bP9mAsEMYPUGjjGNaNO5ZDVyLhSZY",
        json=load("get_payment.json"),
    )

    result = adapter.retrieve(provider_reference="bP9mAsEMYPUGjjGNaNO5ZDVyLhSZY")

    assert result.status is ProviderStatus.CAPTURED
    assert result.amount_captured == 555


def test_retrieve_of_an_unknown_payment_is_none(adapter, api):
    api.get(f"{SANDBOX}/v2/payments/missing", status=404, json=ERRORS["NOT_FOUND"])

    assert adapter.retrieve(provider_reference="missing") is None


def test_retrieve_by_idempotency_key_alone_cannot_look_up(adapter, api):
    # Square has no such look-up; reconciliation cancels by key instead. Not
    # None: that would claim Square has no payment under the key.
    with pytest.raises(Unknown) as caught:
        adapter.retrieve(idempotency_key="pay-key-0001")
    assert caught.value.code == "lookup_not_supported"
    assert not api.calls


def test_a_failed_complete_after_the_approval_is_unknown(adapter, api):
    api.post(f"{SANDBOX}/v2/payments", json=approved())
    api.post(
        f"{SANDBOX}/v2/payments/{PAYMENT_ID}/complete",
        json=ERRORS["INTERNAL_SERVER_ERROR"],
        status=500,
    )

    with pytest.raises(Unknown) as caught:
        adapter.authorize(payment())
    assert caught.value.code == "complete_failed"
    # One create, and the complete retried (a state transition, safe to repeat).
    assert [c.request.url.rsplit("/", 1)[-1] for c in api.calls] == [
        "payments",
        "complete",
        "complete",
    ]


def test_save_method_creates_customer_and_card(adapter, api):
    api.post(f"{SANDBOX}/v2/customers", json=load("create_customer.json"))
    card = load("create_card.json")
    card["card"]["customer_id"] = "JDKYHBWT1D4F8MFH63DBMEN8Y4"
    api.post(f"{SANDBOX}/v2/cards", json=card)

    saved = adapter.save_method(
        SaveMethodRequest(
            customer_reference="cust-7",
            source_token="cnon:uIbfJXhXETSP197M3GB",
            idempotency_key="save-1",
            customer_email="Amelia.Earhart@example.com",
        )
    )

    customer_call, card_call = api.calls
    assert sent(customer_call) == {
        "idempotency_key": square_idempotency_key("save-1:customer"),
        "reference_id": "cust-7",
        "email_address": "Amelia.Earhart@example.com",
    }
    assert sent(card_call) == {
        "idempotency_key": square_idempotency_key("save-1:card"),
        "source_id": "cnon:uIbfJXhXETSP197M3GB",
        "card": {"customer_id": "JDKYHBWT1D4F8MFH63DBMEN8Y4"},
    }
    assert (saved.provider_customer_id, saved.provider_method_id) == (
        "JDKYHBWT1D4F8MFH63DBMEN8Y4",
        "ccof:uIbfJXhXETSP197M3GB",
    )
    assert (saved.card_brand, saved.card_last4, saved.exp_month, saved.exp_year) == (
        "visa",
        "1111",
        11,
        2022,
    )


def test_health_check_lists_locations(adapter, api):
    listing = load("list_locations.json")
    listing["locations"][0]["id"] = LOCATION
    api.get(f"{SANDBOX}/v2/locations", json=listing)

    assert adapter.health_check().ok


def test_health_check_flags_a_location_of_another_account(adapter, api):
    api.get(f"{SANDBOX}/v2/locations", json=load("list_locations.json"))

    health = adapter.health_check()

    assert not health.ok


# --- Webhooks -----------------------------------------------------------------


def signed(body: bytes, *, key: str = SIGNATURE_KEY, url: str = NOTIFICATION_URL):
    return {
        "x-square-hmacsha256-signature": sign_webhook(
            key=key, notification_url=url, body=body
        )
    }


def raw(name: str) -> bytes:
    return json.dumps(load(name)).encode()


def test_valid_webhook_is_verified(adapter):
    body = raw("webhook_payment_updated.json")

    message = adapter.verify_webhook(body=body, headers=signed(body), url="ignored")

    assert message.event_type == "payment.updated"
    assert message.dedupe_key == "6a8f5f28-54a1-4eb0-a98a-3111513fd4fc"
    assert message.occurred_at.year == 2020


def test_duplicate_delivery_has_the_same_dedupe_key(adapter):
    body = raw("webhook_payment_updated.json")

    first = adapter.verify_webhook(body=body, headers=signed(body), url="")
    again = adapter.verify_webhook(body=body, headers=signed(body), url="")

    assert first.dedupe_key == again.dedupe_key


def test_forged_webhook_is_refused(adapter):
    body = raw("webhook_payment_updated.json")

    with pytest.raises(WebhookVerificationError) as caught:
        adapter.verify_webhook(body=body, headers=signed(body, key="guess"), url="")

    assert caught.value.code == WebhookVerificationError.FORGED


def test_signature_for_another_url_is_refused(adapter):
    body = raw("webhook_payment_updated.json")
    headers = signed(body, url="https://elsewhere.example/hook")

    with pytest.raises(WebhookVerificationError) as caught:
        adapter.verify_webhook(body=body, headers=headers, url="")

    assert caught.value.code == WebhookVerificationError.FORGED


def test_tampered_body_is_refused(adapter):
    body = raw("webhook_payment_updated.json")
    headers = signed(body)

    with pytest.raises(WebhookVerificationError):
        adapter.verify_webhook(body=body.replace(b"100", b"1"), headers=headers, url="")


def test_request_url_is_used_without_a_notification_url_setting(account):
    account.settings = dict(FAST)
    account.save()
    body = raw("webhook_payment_updated.json")
    url = "https://gateway.example/webhooks/sq/"

    message = SquareAdapter(account).verify_webhook(
        body=body, headers=signed(body, url=url), url=url
    )

    assert message.event_type == "payment.updated"


def test_missing_signature_header_is_refused(adapter):
    with pytest.raises(WebhookVerificationError) as caught:
        adapter.verify_webhook(body=b"{}", headers={}, url="")

    assert caught.value.code == WebhookVerificationError.MISSING_HEADER


def test_webhook_without_a_signature_key_never_passes(account):
    account.set_credentials({"access_token": TOKEN})
    account.save()
    body = raw("webhook_payment_updated.json")

    with pytest.raises(WebhookVerificationError) as caught:
        SquareAdapter(account).verify_webhook(body=body, headers=signed(body), url="")

    assert caught.value.code == WebhookVerificationError.MISSING_SECRET


def test_signed_body_that_is_not_an_event_is_malformed(adapter):
    body = b'{"hello": "world"}'

    with pytest.raises(WebhookVerificationError) as caught:
        adapter.verify_webhook(body=body, headers=signed(body), url="")

    assert caught.value.code == WebhookVerificationError.MALFORMED


def _parsed(adapter, payload: dict):
    body = json.dumps(payload).encode()
    return adapter.parse_payment_event(
        adapter.verify_webhook(body=body, headers=signed(body), url="")
    )


def test_payment_events_follow_the_payment_status(adapter):
    completed = _parsed(adapter, load("webhook_payment_updated.json"))
    authorized = _parsed(adapter, load("webhook_payment_created.json"))
    failed_body = load("webhook_payment_updated.json")
    failed_body["data"]["object"]["payment"]["status"] = "FAILED"
    canceled_body = load("webhook_payment_updated.json")
    canceled_body["data"]["object"]["payment"]["status"] = "CANCELED"
    pending_body = load("webhook_payment_created.json")
    pending_body["data"]["object"]["payment"]["status"] = "PENDING"

    assert (completed.kind, completed.amount, completed.currency) == (
        PaymentEventKind.SUCCEEDED,
        100,
        "USD",
    )
    assert completed.provider_reference == "hYy9pRFVxpDsO1FB05SunFWUe9JZY"
    assert authorized.kind is PaymentEventKind.AUTHORIZED
    # Square's FAILED is terminal: final, even after APPROVED.
    assert _parsed(adapter, failed_body).kind is PaymentEventKind.FAILED_FINAL
    assert _parsed(adapter, canceled_body).kind is PaymentEventKind.VOIDED
    assert _parsed(adapter, pending_body) is None


def test_completed_refund_event(adapter):
    parsed = _parsed(adapter, load("webhook_refund_updated.json"))
    pending = load("webhook_refund_updated.json")
    pending["data"]["object"]["refund"]["status"] = "PENDING"

    assert (parsed.kind, parsed.amount, parsed.provider_reference) == (
        PaymentEventKind.REFUNDED,
        1000,
        "KkAkhdMsgzn59SM8A89WgKwekxLZY",
    )
    assert parsed.refund_reference.startswith("KkAkhdMsgzn59SM8A89WgKwekxLZY_")
    assert _parsed(adapter, pending) is None


def test_dispute_events(adapter):
    opened = _parsed(adapter, load("webhook_dispute_created.json"))
    closed = _parsed(adapter, load("webhook_dispute_state_updated.json"))

    assert (opened.kind, opened.dispute_status, opened.amount) == (
        PaymentEventKind.DISPUTE_OPENED,
        "evidence_required",
        8801,
    )
    assert opened.provider_reference == "fbmsaEOpoARDKxiSGH1fqPuqoqFZY"
    assert opened.dispute_reference == "ORSEVtZAJxb37RA1EiGw"
    assert (closed.kind, closed.dispute_status) == (
        PaymentEventKind.DISPUTE_CLOSED,
        "won",
    )


def test_a_webhook_through_the_intake_is_signed_over_the_url_it_was_posted_to(
    account, client
):
    # No notification_url setting: the intake works out the URL it was posted to.
    account.settings = {"location_id": LOCATION}
    account.save()
    body = raw("webhook_payment_updated.json")
    path = f"/webhooks/{account.slug}/"
    signature = sign_webhook(
        key=SIGNATURE_KEY, notification_url=f"http://testserver{path}", body=body
    )

    response = client.post(
        path,
        data=body,
        content_type="application/json",
        headers={"X-Square-HmacSha256-Signature": signature},
    )

    assert response.status_code == 200, response.content
    assert WebhookEvent.objects.get(account=account).event_type == "payment.updated"
