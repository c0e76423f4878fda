"""SDK hooks: ``client.operation`` and ``client.call`` around calls that use
``client.session``, including the real Stripe SDK against the fault server."""

import pytest
import requests
import stripe

from integrations import correlation
from integrations.errors import NotProcessed, ProviderError, Rejected, Unknown
from integrations.models import ProviderCall
from integrations.testing.faultserver import hang, respond

pytestmark = pytest.mark.django_db

INTENT = {
    "id": "pi_123",
    "object": "payment_intent",
    "amount": 1999,
    "currency": "eur",
    "status": "requires_payment_method",
}
CARD_DECLINED = {
    "error": {
        "type": "card_error",
        "code": "card_declined",
        "decline_code": "insufficient_funds",
        "message": "Your card has insufficient funds.",
    }
}


def map_stripe_error(exc: Exception) -> ProviderError | None:
    # What a Stripe adapter would do; kept tiny for the test.
    if isinstance(exc, stripe.CardError):
        return Rejected("card declined", code="card_declined", http_status=402)
    if isinstance(exc, stripe.APIConnectionError):
        return Unknown("stripe connection error", code="connection_error")
    return None


def stripe_sdk(client, fault):
    return stripe.StripeClient(
        "sk_test_123",
        base_addresses={"api": fault.url},
        http_client=stripe.RequestsClient(session=client.session),
        max_network_retries=0,
    )


def test_stripe_sdk_call_through_the_session(client, fault):
    fault.route("POST", "/v1/payment_intents", respond(200, json=INTENT))
    sdk = stripe_sdk(client, fault)

    with (
        correlation.bind("checkout-9"),
        client.operation(
            "create_payment", idempotent=True, exception_map=map_stripe_error
        ) as op,
    ):
        intent = sdk.v1.payment_intents.create(
            params={"amount": 1999, "currency": "eur"},
            options={"idempotency_key": op.idempotency_key},
        )

    assert intent.id == "pi_123"
    (seen,) = fault.requests
    assert seen.header("X-Correlation-ID") == "checkout-9"
    assert seen.header("Idempotency-Key") == op.idempotency_key
    call = ProviderCall.objects.get()
    assert (call.operation, call.outcome, call.attempts, call.http_status) == (
        "create_payment",
        "success",
        1,
        200,
    )
    assert call.idempotency_key == op.idempotency_key


def test_stripe_decline_is_mapped_to_rejected(client, fault):
    fault.route("POST", "/v1/payment_intents", respond(402, json=CARD_DECLINED))
    sdk = stripe_sdk(client, fault)

    with (
        pytest.raises(Rejected) as caught,
        client.operation(
            "create_payment", idempotent=True, exception_map=map_stripe_error
        ) as op,
    ):
        sdk.v1.payment_intents.create(
            params={"amount": 1999, "currency": "eur"},
            options={"idempotency_key": op.idempotency_key},
        )

    assert caught.value.code == "card_declined"
    assert isinstance(caught.value.__cause__, stripe.CardError)
    call = ProviderCall.objects.get()
    assert (call.outcome, call.error_code, call.http_status) == (
        "rejected",
        "card_declined",
        402,
    )


def test_session_requests_inside_an_operation_are_counted(client, fault):
    fault.route("GET", "/a", respond(200))
    fault.route("GET", "/b", respond(204))

    with client.operation("two_requests", idempotent=True):
        client.session.get(fault.url_for("/a"))
        client.session.get(fault.url_for("/b"))

    call = ProviderCall.objects.get()
    assert (call.attempts, call.http_status, call.outcome) == (2, 204, "success")


def test_transport_errors_in_an_operation_use_the_default_mapping(client, fault):
    fault.route("POST", "/x", hang())

    with (
        pytest.raises(Unknown) as caught,
        client.operation("sdk_post", idempotent=False),
    ):
        # The SDK's own timeout is clamped to the account's 0.2 s read timeout.
        client.session.post(fault.url_for("/x"), timeout=30)

    assert caught.value.code == "read_timeout"
    assert ProviderCall.objects.get().outcome == "unknown"


def test_unmapped_exceptions_become_unknown(client, fault):
    with (
        pytest.raises(Unknown) as caught,
        client.operation("sdk_call", idempotent=False),
    ):
        raise KeyError("unexpected shape")

    assert caught.value.code == "unexpected_error"
    assert ProviderCall.objects.get().error_code == "unexpected_error"


def test_call_retries_an_sdk_function(client, fault, fake_time):
    fault.route("GET", "/x", respond(200, json={"n": 1}))
    attempts = []

    def fetch(ctx):
        attempts.append(ctx.idempotency_key)
        if len(attempts) == 1:
            raise requests.ConnectTimeout("nothing sent")
        return client.session.get(fault.url_for("/x")).json()

    result = client.call("fetch", fetch, idempotent=False)

    assert result == {"n": 1}
    assert len(set(attempts)) == 1
    assert len(attempts) == 2
    assert len(fake_time.sleeps) == 1


def test_call_does_not_retry_unknown_when_not_idempotent(client, fake_time):
    def fetch(ctx):
        raise requests.ReadTimeout("no answer")

    with pytest.raises(Unknown):
        client.call("fetch", fetch, idempotent=False)
    assert fake_time.sleeps == []


def test_open_breaker_stops_an_operation_before_its_block(client, account):
    from integrations.breaker import breaker_mode_set

    breaker_mode_set(account=account, mode="forced_open")
    ran = []
    with (
        pytest.raises(NotProcessed) as caught,
        client.operation("sdk_call", idempotent=True),
    ):
        ran.append(True)

    assert caught.value.code == "breaker_open"
    assert ran == []
