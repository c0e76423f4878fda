"""A gateway's refusal that is not the card's (PayPal's order not approved,
expired, captured already, a duplicate invoice, a currency or amount it does
not take; a refund it refuses) answers 402 typed ``invalid_request_error``
with our own sentence, never ``card_error``; the card's own refusals stay
``card_error``. 422 bodies shaped as the Orders v2 / Payments v2 specs'
error details (provider-specs/paypal)."""

import json
from pathlib import Path

import pytest
import responses

from payments.services.messages import DEFAULT_MESSAGE, MESSAGES
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "paypal"
BASE = "https://api-m.sandbox.paypal.com"
ORDER = "5O190127TN364715T"
ORDER_URL = f"{BASE}/v2/checkout/orders/{ORDER}"
CAPTURE = "3C679366HH908993F"
FAST = {
    "max_attempts": 2,
    "backoff_base_seconds": 0.001,
    "backoff_cap_seconds": 0.001,
    "breaker_consecutive_failures": 50,
}


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def issue_body(issue: str, description: str = "Refused.") -> dict:
    return {
        "name": "UNPROCESSABLE_ENTITY",
        "message": "The requested action could not be performed, semantically "
        "incorrect, or failed business validation.",
        "debug_id": "a1b2c3d4e5f60",
        "details": [{"issue": issue, "description": description}],
    }


@pytest.fixture
def pp(db):
    ProviderAccountFactory(
        provider="paypal",
        slug="paypal-main",
        priority=1,
        settings=dict(FAST),
        credentials={"client_id": "AbCdEf-client", "client_secret": "EFgh-secret"},
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(f"{BASE}/v1/oauth2/token", json=load("oauth_token.json"))
        yield rsps


def create(api, key: str):
    body = {
        "order_id": "order-1001",
        "amount": 1050,
        "currency": "USD",
        "source_token": ORDER,
        "capture": True,
    }
    return api.post("/api/v1/payments/", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.mark.parametrize(
    ("issue", "code"),
    [
        ("ORDER_NOT_APPROVED", "not_approved"),
        ("ORDER_EXPIRED", "expired"),
        ("ORDER_ALREADY_CAPTURED", "already_captured"),
        ("DUPLICATE_INVOICE_ID", "duplicate_transaction"),
        ("INVALID_CURRENCY_CODE", "currency_not_supported"),
        ("DECIMAL_PRECISION", "invalid_amount"),
    ],
)
def test_a_refusal_not_the_cards_is_the_requests_with_our_sentence(
    pp, api, issue, code
):
    pp.get(ORDER_URL, json=load("order_approved_capture.json"))
    pp.post(
        f"{ORDER_URL}/capture",
        status=422,
        json=issue_body(issue, "Order id 5O190127TN364715T refused."),
    )

    response = create(api, f"k-{issue}")

    assert response.status_code == 402, response.json()
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", code)
    assert error["message"] == MESSAGES[code] != DEFAULT_MESSAGE
    assert ORDER not in error["message"]
    assert error["provider_code"] == issue
    assert response.json()["payment"]["status"] == "failed"


def test_the_cards_refusal_stays_a_card_error(pp, api):
    pp.get(ORDER_URL, json=load("order_approved_capture.json"))
    pp.post(f"{ORDER_URL}/capture", status=422, json=issue_body("INSTRUMENT_DECLINED"))

    response = create(api, "k-declined")

    assert response.status_code == 402, response.json()
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("card_error", "card_declined")


def _captured(pp, api) -> str:
    pp.get(ORDER_URL, json=load("order_approved_capture.json"))
    pp.post(f"{ORDER_URL}/capture", status=201, json=load("order_captured.json"))
    response = create(api, "k-captured")
    assert response.status_code == 201, response.json()
    pp.get(ORDER_URL, json=load("order_captured.json"))
    return response.json()["id"]


def refund(api, payment_id: str, key: str):
    return api.post(
        f"/api/v1/payments/{payment_id}/refunds/",
        {"amount": 500, "reason": "damaged"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


@pytest.mark.parametrize(
    ("issue", "code"),
    [
        ("REFUND_TIME_LIMIT_EXCEEDED", "refund_window_closed"),
        ("CAPTURE_FULLY_REFUNDED", "already_refunded"),
        ("REFUND_AMOUNT_EXCEEDED", "amount_too_large"),
    ],
)
def test_a_refused_refund_is_the_requests_with_our_sentence(pp, api, issue, code):
    payment_id = _captured(pp, api)
    pp.post(
        f"{BASE}/v2/payments/captures/{CAPTURE}/refund",
        status=422,
        json=issue_body(issue),
    )

    response = refund(api, payment_id, f"r-{issue}")

    assert response.status_code == 402, response.json()
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", code)
    assert error["message"] == MESSAGES[code] != DEFAULT_MESSAGE
    assert response.json()["refund"]["status"] == "failed"


def test_a_refund_the_gateway_failed_is_no_card_error(pp, api):
    payment_id = _captured(pp, api)
    failed = {**load("refund_completed.json"), "status": "FAILED"}
    pp.post(f"{BASE}/v2/payments/captures/{CAPTURE}/refund", status=201, json=failed)

    response = refund(api, payment_id, "r-failed")

    assert response.status_code == 402, response.json()
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "refund_failed")
    assert error["message"] == MESSAGES["refund_failed"]
