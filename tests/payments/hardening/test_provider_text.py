"""Provider text never reaches the storefront or the logs (issue 17, part 3).

A canary secret is planted in the account's credentials and echoed back in
the gateway's error message (Stripe's error shape, tests/fixtures/stripe/
errors.json from stripe/openapi fixtures3.json): the API answers with our own
message, stored messages and log lines have the secret masked, and the
provider's text is kept for staff on the timeline, masked."""

import copy
import io
import json
import logging
import uuid

import pytest
import responses

from integrations.logging import SecretRedactionFilter
from integrations.models import IdempotencyRecord, ProviderCall
from integrations.secrets_registry import MASK
from payments.models import Payment, PaymentAttempt, PaymentNote
from payments.selectors import payment_timeline
from tests.factories import ProviderAccountFactory
from tests.payments.decline_answers import fresh_secrets  # noqa: F401 (autouse)
from tests.payments.providers import test_stripe

pytestmark = pytest.mark.django_db

CANARY = "sk_test_CANARY_0123456789abcdef"
API = "https://api.stripe.com"


@pytest.fixture
def stripe_account(db):
    return ProviderAccountFactory(
        provider="stripe",
        slug="stripe-canary",
        priority=1,
        settings=dict(test_stripe.FAST),
        credentials={"secret_key": CANARY, "webhook_secret": "whsec_canary_000000"},
    )


@pytest.fixture
def console() -> io.StringIO:
    """The configured console handler's output (with its filters)."""
    handler = next(
        h
        for h in logging.getLogger().handlers
        if any(isinstance(f, SecretRedactionFilter) for f in h.filters)
    )
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


def echoing_decline() -> dict:
    body = copy.deepcopy(test_stripe.ERRORS["generic_decline"])
    body["error"]["message"] = f"Your card was declined. Request used key {CANARY}."
    return body


def test_a_decline_quoting_our_key_never_reaches_the_storefront_or_logs(
    stripe_account, api, console
):
    with responses.RequestsMock() as mock:
        mock.post(f"{API}/v1/payment_intents", status=402, json=echoing_decline())
        response = api.post(
            "/api/v1/payments/",
            {
                "order_id": "o-1",
                "amount": 1000,
                "currency": "EUR",
                "source_token": "pm_card_visa",
            },
            format="json",
            HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
        )
    logging.getLogger("payments.test").error("provider said %s", CANARY)

    assert response.status_code == 402
    body = response.content.decode()
    assert CANARY not in body
    error = response.json()["error"]
    assert (error["code"], error["message"]) == (
        "card_declined",
        "The card was declined.",
    )
    # The provider's own code travels in a field of its own (its decline_code).
    assert error["provider_code"] == "generic_decline"
    assert response.json()["payment"]["failure"] == {
        "code": "card_declined",
        "message": "The card was declined.",
        "provider_code": "generic_decline",
    }
    payment = Payment.objects.get()
    assert payment.failure_message == "The card was declined."
    stored = [
        *PaymentAttempt.objects.values_list("error_message", flat=True),
        *PaymentNote.objects.values_list("detail", flat=True),
        *ProviderCall.objects.values_list("error_code", flat=True),
        json.dumps(list(IdempotencyRecord.objects.values_list("response_body"))),
    ]
    assert not [text for text in stored if CANARY in text]
    logged = console.getvalue()
    assert CANARY not in logged
    assert MASK in logged
    staff = [
        e.detail for e in payment_timeline(payment) if e.kind == "provider_message"
    ]
    assert staff == [f"Your card was declined. Request used key {MASK}."]


def test_a_traceback_quoting_a_secret_is_masked(stripe_account, console):
    try:
        raise RuntimeError(f"boom with {CANARY}")
    except RuntimeError:
        logging.getLogger("payments.test").exception("call failed")

    logged = console.getvalue()
    assert CANARY not in logged
    assert "RuntimeError" in logged


def test_sdk_loggers_write_nothing_below_warning():
    for name in ("stripe", "braintree", "urllib3"):
        assert logging.getLogger(name).getEffectiveLevel() >= logging.WARNING


def test_a_provider_code_that_is_not_a_code_is_not_passed_on(stripe_account, api):
    body = echoing_decline()
    body["error"]["decline_code"] = f"declined because {CANARY}"
    with responses.RequestsMock() as mock:
        mock.post(f"{API}/v1/payment_intents", status=402, json=body)
        response = api.post(
            "/api/v1/payments/",
            {
                "order_id": "o-2",
                "amount": 1000,
                "currency": "EUR",
                "source_token": "pm_card_visa",
            },
            format="json",
            HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
        )

    assert response.status_code == 402
    assert CANARY not in response.content.decode()
    assert "provider_code" not in response.json()["error"]
    note = PaymentNote.objects.get(kind="provider_message")
    assert CANARY not in note.title and MASK in note.title


def test_the_schema_declares_the_provider_code(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    error = schema["components"]["schemas"]["Error"]

    assert "provider_code" in error["properties"]
    assert "provider_code" not in error.get("required", [])
    create = schema["paths"]["/api/v1/payments/"]["post"]["responses"]["402"]
    example = next(iter(create["content"]["application/json"]["examples"].values()))
    assert example["value"]["error"]["provider_code"] == "generic_decline"
