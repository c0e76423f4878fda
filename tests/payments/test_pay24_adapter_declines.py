"""pay24 (adapters): the decline a webhook or a look-up reports is translated
as the create call's answer is, by the same code (``PaymentEvent.decline``,
``PaymentResult.decline``):

- Stripe ``payment_intent.payment_failed`` and a look-up of an intent with
  ``last_payment_error`` (decline_code, code, advice_code and
  network_advice_code); the network's advice (Mastercard merchant advice
  codes, as PayPal's payment_advice_code: 21 stop recurring payments, 01 new
  account information and 03 do not try again, 02 try again later) on a
  synchronous decline too.
- PayPal ``PAYMENT.CAPTURE.DECLINED`` (the capture's processor_response) and
  a look-up of an order with a declined capture.
- Braintree ``transaction_settlement_declined`` (the settlement's processor
  response code) and a look-up of a declined transaction; 2044 "Declined -
  Call Issuer", a hard decline in Braintree's table, advises no retry.
- Square ``payment.updated`` FAILED with ``card_details.errors``.
- The sandbox's ``tok_stop_payment``."""

import copy

import pytest

from integrations.errors import Rejected
from integrations.webhooks.messages import WebhookMessage
from payments.providers.base import PaymentEventKind, ProviderStatus
from payments.providers.sandbox import SandboxPaymentsAdapter
from tests.payments.decline_answers import (
    braintree_declined,
    braintree_looked_up,
    braintree_refusal,
    card_error,
    paypal_adapter,
    settlement_declined_event,
    stripe_adapter,
)
from tests.payments.providers import test_paypal as pp
from tests.payments.providers import test_square as sq
from tests.payments.providers import test_stripe as st
from tests.payments.providers.test_braintree import (  # noqa: F401 (fixtures)
    account,
    adapter,
    mocked,
)

pytestmark = pytest.mark.django_db


def stripe_failed_event(error: dict):
    body = st.event(
        "payment_intent.payment_failed",
        st.intent(status="requires_payment_method", last_payment_error=error),
    )
    stripe = stripe_adapter()
    message = stripe.verify_webhook(body=body, headers=st.signed(body), url="")
    return stripe.parse_payment_event(message)


def test_stripe_payment_failed_event_carries_the_stop_payment():
    event = stripe_failed_event(card_error("stop_payment_order"))

    assert event.kind is PaymentEventKind.FAILED
    decline = event.decline
    assert (decline.code, decline.provider_code) == (
        "stop_payment",
        "stop_payment_order",
    )


def test_stripe_payment_failed_event_carries_the_advice():
    event = stripe_failed_event(card_error(advice_code="do_not_try_again"))

    assert (event.decline.code, event.decline.advice_code) == (
        "card_declined",
        "do_not_try_again",
    )


def test_stripe_payment_failed_event_maps_by_code_without_decline_code():
    error = card_error(code="expired_card")
    del error["decline_code"]

    event = stripe_failed_event(error)

    assert (event.decline.code, event.decline.provider_code) == (
        "expired_card",
        "expired_card",
    )


def test_stripe_failed_3ds_is_authentication_required():
    event = stripe_failed_event(
        {
            "type": "invalid_request_error",
            "code": "payment_intent_authentication_failure",
            "message": "The provided PaymentMethod has failed authentication.",
        }
    )

    assert event.decline.code == "authentication_required"


@pytest.mark.parametrize(
    ("network_advice", "code", "advice"),
    [
        ("21", "stop_payment", "do_not_try_again"),
        ("03", "card_declined", "do_not_try_again"),
        ("01", "card_declined", "do_not_try_again"),
        ("02", "card_declined", "try_again_later"),
        ("99", "card_declined", ""),
    ],
)
def test_stripe_network_advice_code(network_advice, code, advice):
    error = card_error(network_advice_code=network_advice)

    event = stripe_failed_event(error)
    assert (event.decline.code, event.decline.advice_code) == (code, advice)

    # The synchronous decline: the same translation.
    with st.responses.RequestsMock() as api:
        api.post(f"{st.API}/v1/payment_intents", status=402, json={"error": error})
        with pytest.raises(Rejected) as caught:
            stripe_adapter().authorize(st.payment())
    assert (caught.value.code, caught.value.advice_code) == (code, advice)


def test_stripe_advice_code_wins_over_the_network_advice():
    error = card_error(advice_code="try_again_later", network_advice_code="03")

    assert stripe_failed_event(error).decline.advice_code == "try_again_later"


def test_stripe_look_up_of_a_declined_intent_carries_the_decline():
    intent = st.intent(
        status="requires_payment_method",
        last_payment_error=card_error("lost_card", advice_code="do_not_try_again"),
    )
    with st.responses.RequestsMock() as api:
        api.get(f"{st.API}/v1/payment_intents/{intent['id']}", json=intent)
        result = stripe_adapter().retrieve(provider_reference=intent["id"])

    assert result.status is ProviderStatus.FAILED
    assert (result.decline.code, result.decline.advice_code) == (
        "lost_or_stolen",
        "do_not_try_again",
    )


def test_stripe_look_up_of_a_live_intent_has_no_decline():
    intent = st.intent()
    with st.responses.RequestsMock() as api:
        api.get(f"{st.API}/v1/payment_intents/{intent['id']}", json=intent)
        result = stripe_adapter().retrieve(provider_reference=intent["id"])

    assert result.decline is None


def test_paypal_capture_declined_event_carries_the_processor_response():
    body = pp.load("event_capture_denied.json")
    body["event_type"] = "PAYMENT.CAPTURE.DECLINED"
    body["resource"]["processor_response"] = {
        "avs_code": "Y",
        "cvv_code": "M",
        "response_code": "0500",
        "payment_advice_code": "21",
    }
    message = WebhookMessage(
        event_type=body["event_type"], dedupe_key=body["id"], payload=body
    )

    event = paypal_adapter().parse_payment_event(message)

    assert event.kind is PaymentEventKind.FAILED_FINAL
    decline = event.decline
    assert (decline.code, decline.provider_code, decline.advice_code) == (
        "stop_payment",
        "0500",
        "do_not_try_again",
    )


def test_paypal_capture_denied_without_processor_response_has_no_decline():
    body = pp.load("event_capture_denied.json")
    message = WebhookMessage(
        event_type=body["event_type"], dedupe_key=body["id"], payload=body
    )

    assert paypal_adapter().parse_payment_event(message).decline is None


def test_paypal_look_up_of_a_declined_capture_carries_the_decline():
    with st.responses.RequestsMock() as api:
        api.post(pp.TOKEN_URL, json=pp.load("oauth_token.json"))
        api.get(pp.ORDER_URL, json=pp.load("order_capture_declined.json"))
        result = paypal_adapter().retrieve(provider_reference=pp.ORDER)

    assert result.status is ProviderStatus.FAILED
    # 5120: insufficient funds, in the fixture's processor_response.
    assert (result.decline.code, result.decline.provider_code) == (
        "insufficient_funds",
        "5120",
    )


def test_braintree_settlement_declined_event_carries_the_settlement_code(
    adapter,  # noqa: F811
):
    event = settlement_declined_event(adapter, "2017")

    assert event.kind is PaymentEventKind.FAILED_FINAL
    assert (event.decline.code, event.decline.provider_code) == ("stop_payment", "2017")


def test_braintree_look_up_of_a_declined_transaction_carries_the_decline(
    adapter,  # noqa: F811
    mocked,  # noqa: F811
):
    result = braintree_looked_up(adapter, mocked, braintree_declined("2018"))

    assert result.status is ProviderStatus.FAILED
    assert (result.decline.code, result.decline.provider_code) == (
        "stop_payment",
        "2018",
    )


def test_braintree_2044_call_issuer_advises_no_retry(
    adapter,  # noqa: F811
    mocked,  # noqa: F811
):
    refused = braintree_refusal(adapter, mocked, braintree_declined("2044"))

    assert (refused.code, refused.provider_code) == ("card_declined", "2044")
    assert refused.advice_code == "do_not_try_again"


def test_square_failed_payment_event_carries_the_card_error():
    square_account = sq.ProviderAccountFactory(
        provider="square",
        mode="test",
        settings={
            **sq.FAST,
            "location_id": sq.LOCATION,
            "notification_url": sq.NOTIFICATION_URL,
        },
        credentials={
            "access_token": sq.TOKEN,
            "webhook_signature_key": sq.SIGNATURE_KEY,
        },
    )
    body = sq.load("webhook_payment_updated.json")
    square_payment = body["data"]["object"]["payment"]
    square_payment["status"] = "FAILED"
    square_payment["card_details"]["status"] = "FAILED"
    square_payment["card_details"]["errors"] = [
        {"category": "PAYMENT_METHOD_ERROR", "code": "CARD_EXPIRED", "detail": "x"}
    ]

    event = sq._parsed(sq.SquareAdapter(square_account), copy.deepcopy(body))

    assert event.kind is PaymentEventKind.FAILED_FINAL
    assert (event.decline.code, event.decline.provider_code) == (
        "expired_card",
        "CARD_EXPIRED",
    )


def test_sandbox_has_a_stop_payment_token():
    sandbox = SandboxPaymentsAdapter(
        st.ProviderAccountFactory(provider="sandbox", slug="sandbox-pay24")
    )
    request = st.payment(source_token="tok_stop_payment", currency="EUR")

    with pytest.raises(Rejected) as caught:
        sandbox.authorize(request)

    assert caught.value.code == "stop_payment"
