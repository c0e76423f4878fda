"""A PayPal order that does not match the request (made for another order,
another amount or currency, another intent) is refused with our own
sentence per refusal, and typed as the request's fault
(``invalid_request_error``), not a card's: no card was declined. The
status stays the schema's for a failed payment (402, the payment in the
body). Orders shaped like tests/fixtures/paypal/order_approved_*.json; the
422 like the Orders v2 spec's ACTION_DOES_NOT_MATCH_INTENT issue."""

import pytest

from payments.services.messages import DEFAULT_MESSAGE, MESSAGES
from tests.payments.paypal_orders import ORDER, ORDER_URL, load, paypal_account

pytestmark = pytest.mark.django_db

INTENT_ISSUE = {
    "name": "UNPROCESSABLE_ENTITY",
    "message": "The requested action could not be performed, semantically "
    "incorrect, or failed business validation.",
    "debug_id": "a1b2c3d4e5f60",
    "details": [
        {
            "issue": "ACTION_DOES_NOT_MATCH_INTENT",
            "description": "Order was created with an intent to 'CAPTURE'. "
            "Please use v2/checkout/orders/order_id/capture to complete the "
            "transaction or alternately Create an order with an intent of "
            "'AUTHORIZE'.",
        }
    ],
}


@pytest.fixture
def pp(db):
    with paypal_account() as rsps:
        yield rsps


def create(api, key: str, **changes):
    body = {
        "order_id": "order-1001",
        "amount": 1050,
        "currency": "USD",
        "source_token": ORDER,
        "capture": True,
    }
    body.update(changes)
    return api.post("/api/v1/payments/", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def refused(response, code: str) -> dict:
    assert response.status_code == 402, response.json()
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", code)
    assert error["message"] == MESSAGES[code] != DEFAULT_MESSAGE
    assert response.json()["payment"]["status"] == "failed"
    assert response.json()["payment"]["amount_captured"] == 0
    return error


@pytest.mark.parametrize(
    ("code", "changes"),
    [
        ("order_mismatch", {"order_id": "order-2002"}),
        ("amount_mismatch", {"amount": 1051}),
        ("amount_mismatch", {"currency": "EUR"}),
        ("intent_mismatch", {"capture": False}),
    ],
)
def test_an_order_not_matching_the_request_is_the_requests_fault(
    pp, api, code, changes
):
    pp.get(ORDER_URL, json=load("order_approved_capture.json"))

    refused(create(api, f"k-{code}-{sorted(changes)}", **changes), code)

    assert not [
        c for c in pp.calls if c.request.method == "POST" and "/v2/" in c.request.url
    ]


def test_paypals_own_intent_refusal_is_the_requests_fault_too(pp, api):
    pp.get(ORDER_URL, json=load("order_approved_authorize.json"))
    pp.post(f"{ORDER_URL}/authorize", status=422, json=INTENT_ISSUE)

    error = refused(
        create(api, "k-paypal-intent", capture=False),
        "intent_mismatch",
    )

    assert error["provider_code"] == "ACTION_DOES_NOT_MATCH_INTENT"
    assert "Please use" not in error["message"]


def test_a_card_declined_stays_a_card_error(pp, api):
    pp.get(ORDER_URL, json=load("order_approved_capture.json"))
    pp.post(
        f"{ORDER_URL}/capture", status=201, json=load("order_capture_declined.json")
    )

    response = create(api, "k-declined")

    assert response.status_code == 402, response.json()
    assert response.json()["error"]["type"] == "card_error"
