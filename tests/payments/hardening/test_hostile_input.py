"""Hostile input gets a 4xx in the project's error shape, never a 500 (issue
17, part 2): huge amounts, control characters in paths, queries and string
fields. Validly signed webhooks whose bodies are not provider events are
stored dead with their error and answered 200 (intake41)."""

import json
import time
import uuid

import pytest
import stripe

from integrations.models import WebhookEvent
from payments.models import Payment
from tests.factories import ProviderAccountFactory
from tests.integrations import intake_payments
from tests.integrations.intake_payments import bt_form as bt_signed

pytestmark = pytest.mark.django_db

STRIPE_SECRET = "whsec_switchyard_test_signing_secret"


def create(api, **changes):
    body = {
        "order_id": "order-1",
        "amount": 1000,
        "currency": "EUR",
        "source_token": "tok_success",
        **changes,
    }
    return api.post(
        "/api/v1/payments/", body, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex
    )


def assert_error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(error) == {"type", "code", "message", "param"}
    return error


@pytest.mark.parametrize("amount", [2**63, 2**63 - 1, 10**30, 100_000_000_000])
def test_amount_beyond_what_gateways_accept_is_a_400(api, primary, amount):
    error = assert_error(create(api, amount=amount), 400)
    assert error["param"] == "amount"
    assert not Payment.objects.exists()


def test_zero_decimal_currency_has_its_own_bound(api, primary):
    # Stripe's limit is eight digits of minor units in most currencies (yen
    # included) and twelve in IDR.
    assert create(api, amount=99_999_999, currency="JPY").status_code == 201
    error = assert_error(create(api, amount=100_000_000, currency="JPY"), 400)
    assert error["param"] == "amount"
    response = create(api, amount=100_000_000, currency="IDR", order_id="o-idr")
    assert response.status_code != 400, response.content


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/payments/%00/",
        "/api/v1/payments/pay_%01x/",
        "/api/v1/payments/%00/capture/",
        "/api/v1/customers/%00/payment-methods/",
    ],
)
def test_control_character_in_a_path_parameter_is_a_400(api, primary, path):
    error = assert_error(api.get(path), 400)
    assert error["code"] == "invalid_characters"


def test_control_character_in_a_query_parameter_is_a_400(api, primary):
    response = api.get("/api/v1/customers/c1/payment-methods/", {"cursor": "\x00"})
    assert assert_error(response, 400)["param"] == "cursor"


@pytest.mark.parametrize("field", ["order_id", "source_token", "customer_reference"])
def test_control_character_in_a_string_field_is_a_400(api, primary, field):
    error = assert_error(create(api, **{field: "ab\x00cd"}), 400)
    assert (error["param"], error["code"]) == (field, "invalid_characters")
    assert not Payment.objects.exists()


def test_control_character_in_metadata_is_a_400(api, primary):
    error = assert_error(create(api, metadata={"cart\x00": "x"}), 400)
    assert error["param"].startswith("metadata")
    error = assert_error(create(api, metadata={"cart": "x\x1by"}), 400)
    assert error["param"].startswith("metadata")


def test_newline_in_a_free_text_field_is_still_allowed(api, primary):
    response = create(api, metadata={"note": "line one\nline two"})
    assert response.status_code == 201, response.content


# --- Webhooks ----------------------------------------------------------------


@pytest.fixture
def stripe_account(db):
    return ProviderAccountFactory(
        provider="stripe",
        slug="stripe-main",
        credentials={"secret_key": "sk_test_x", "webhook_secret": STRIPE_SECRET},
    )


def stripe_post(client, body: bytes):
    header = stripe.WebhookSignature.generate_signature_header(
        body.decode(), STRIPE_SECRET, timestamp=int(time.time())
    )
    return client.post(
        "/webhooks/stripe-main/",
        body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=header,
    )


@pytest.mark.parametrize("body", [b"[]", b'[{"id": "evt_1"}]', b"42", b'"x"', b"null"])
def test_signed_stripe_webhook_that_is_not_an_object_is_stored_dead(
    client, stripe_account, body
):
    # intake41: it was a 400 storing nothing, which Stripe retried for days
    # into the same 400; signed, it is kept dead with its error, answered 200.
    response = stripe_post(client, body)
    assert response.status_code == 200, response.content
    event = WebhookEvent.objects.get()
    assert (event.status, bytes(event.raw_body)) == ("dead", body)
    assert "malformed_request" in event.last_error


def test_signed_stripe_webhook_with_nul_in_its_json_is_never_a_500(
    client, stripe_account
):
    body = json.dumps(
        {
            "id": "evt_nul",
            "object": "event",
            "type": "payment_intent.succeeded",
            "created": int(time.time()),
            "data": {"object": {"id": "pi_1", "description": "a\u0000b"}},
        }
    ).encode()
    assert b"\\u0000" in body

    response = stripe_post(client, body)

    assert response.status_code < 500, response.content
    if response.status_code == 200:
        # Stored: the raw bytes as received, the payload without the NUL.
        event = WebhookEvent.objects.get()
        assert bytes(event.raw_body) == body
        assert "\x00" not in json.dumps(event.payload)
    else:
        assert_error(response, 400)


@pytest.fixture
def braintree_account(db):
    return intake_payments.braintree_account()


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"<notification></notification>",
        b'<?xml version="1.0"?><notification><kind>x</kind></notification>',
        b"not xml",
    ],
)
def test_signed_unreadable_braintree_notification_is_never_a_500(
    client, braintree_account, payload
):
    # intake41: a signed payload the SDK cannot read was a 4xx storing
    # nothing; it is kept dead with its error and answered 200. An empty
    # bt_payload carries no signature at all: still a 400, nothing stored.
    body = bt_signed(payload)
    response = client.post(
        "/webhooks/braintree-main/",
        body,
        content_type="application/x-www-form-urlencoded",
    )
    if not payload:
        assert_error(response, 400)
        assert not WebhookEvent.objects.exists()
        return
    assert response.status_code == 200, response.content
    event = WebhookEvent.objects.get()
    assert (event.status, bytes(event.raw_body)) == ("dead", body)


@pytest.mark.parametrize("text", ["a\u0000b", "lone \ud800 surrogate"])
def test_signed_webhook_with_unstorable_text_is_stored_safely(
    client, stripe_account, text
):
    body = json.dumps(
        {
            "id": "evt_odd",
            "object": "event",
            "type": "payment_intent.succeeded",
            "created": int(time.time()),
            "data": {"object": {"id": "pi_1", text: text}},
        }
    ).encode()

    response = stripe_post(client, body)

    assert response.status_code == 200, response.content
    event = WebhookEvent.objects.get()
    assert bytes(event.raw_body) == body
    stored = event.payload["data"]["object"]
    assert list(stored.values()) == ["pi_1", stored[next(iter(stored.keys() - {"id"}))]]
    assert "\ufffd" in json.dumps(stored, ensure_ascii=False)
