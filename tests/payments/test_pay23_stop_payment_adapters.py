"""pay23 (adapters): declines where the cardholder stopped paying us, or the
issuer says "do not try again", are told apart from a soft decline.

- ``stop_payment`` (final for the card): Stripe's decline codes
  revocation_of_authorization, revocation_of_all_authorizations and
  stop_payment_order; Braintree 2017 Cardholder Stopped Billing, 2018
  Cardholder Stopped All Billing and 2070 PayPal Buyer Revoked Pre-Approved
  Payment Authorization (Braintree's declines table); PayPal's
  ``payment_advice_code`` 21 (the network's "stop recurring", in
  checkout_orders_v2.json's processor_response).
- The gateway's advice on trying again, kept as ``advice_code``: Stripe's
  error ``advice_code``; Braintree 2043 "Error - Do Not Retry, Call Issuer"
  and 2022 "Declined - Updated Cardholder Available" (a new card issued;
  on Mastercard's retry-prohibited list) as ``do_not_try_again``; PayPal's
  ``payment_advice_code`` 03 (do not try again) and 02 (try again later)."""

import copy

import pytest

from integrations.errors import Rejected
from payments.providers.base import DECLINE_CODES
from payments.services.messages import public_message, refusal_type
from payments.services.recurring_manage import HARD_DECLINES
from tests.payments.decline_answers import (
    braintree_declined,
    braintree_refusal,
    paypal_adapter,
    paypal_capture_refusal,
    stripe_test_account,
)
from tests.payments.providers import test_stripe as st
from tests.payments.providers.test_braintree import (  # noqa: F401 (fixtures)
    account,
    adapter,
    mocked,
)

pytestmark = pytest.mark.django_db


def test_stop_payment_is_a_hard_card_decline_with_our_message():
    assert "stop_payment" in DECLINE_CODES
    assert "stop_payment" in HARD_DECLINES
    assert refusal_type("stop_payment") == "card_error"
    message = public_message("stop_payment")
    assert message != public_message("unheard_of")
    assert "another payment method" in message


def _stripe_error(decline_code: str, advice_code: str | None = None) -> dict:
    body = copy.deepcopy(st.ERRORS["do_not_honor"])
    body["error"]["decline_code"] = decline_code
    body["error"]["message"] = "Your card was declined."
    if advice_code is not None:
        body["error"]["advice_code"] = advice_code
    return body


@pytest.mark.parametrize(
    "decline_code",
    [
        "revocation_of_authorization",
        "revocation_of_all_authorizations",
        "stop_payment_order",
    ],
)
def test_stripe_stopped_billing_is_stop_payment(decline_code):
    stripe_adapter = st.StripeAdapter(_stripe_account())
    with st.responses.RequestsMock() as api:
        api.post(
            f"{st.API}/v1/payment_intents", status=402, json=_stripe_error(decline_code)
        )
        with pytest.raises(Rejected) as caught:
            stripe_adapter.authorize(st.payment())
    assert (caught.value.code, caught.value.provider_code) == (
        "stop_payment",
        decline_code,
    )


@pytest.mark.parametrize(
    "advice", ["do_not_try_again", "try_again_later", "confirm_card_data"]
)
def test_stripe_advice_code_is_kept_on_the_decline(advice):
    stripe_adapter = st.StripeAdapter(_stripe_account())
    with st.responses.RequestsMock() as api:
        api.post(
            f"{st.API}/v1/payment_intents",
            status=402,
            json=_stripe_error("generic_decline", advice),
        )
        with pytest.raises(Rejected) as caught:
            stripe_adapter.authorize(st.payment())
    error = caught.value
    assert (error.code, error.provider_code) == ("card_declined", "generic_decline")
    assert error.advice_code == advice


def test_stripe_decline_without_advice_has_none():
    stripe_adapter = st.StripeAdapter(_stripe_account())
    with st.responses.RequestsMock() as api:
        api.post(
            f"{st.API}/v1/payment_intents", status=402, json=st.ERRORS["do_not_honor"]
        )
        with pytest.raises(Rejected) as caught:
            stripe_adapter.authorize(st.payment())
    assert getattr(caught.value, "advice_code", "") == ""


def _stripe_account():
    return stripe_test_account()


def _braintree_decline(adapter, mocked, processor_code: str, text: str):  # noqa: F811
    return braintree_refusal(adapter, mocked, braintree_declined(processor_code, text))


@pytest.mark.parametrize(
    ("processor_code", "text"),
    [
        ("2017", "Cardholder Stopped Billing"),
        ("2018", "Cardholder Stopped All Billing"),
        ("2070", "PayPal Buyer Revoked Pre-Approved Payment Authorization"),
    ],
)
def test_braintree_stopped_billing_is_stop_payment(
    adapter,  # noqa: F811
    mocked,  # noqa: F811
    processor_code,
    text,
):
    error = _braintree_decline(adapter, mocked, processor_code, text)
    assert (error.code, error.provider_code) == ("stop_payment", processor_code)


@pytest.mark.parametrize(
    ("processor_code", "text"),
    [
        ("2043", "Error - Do Not Retry, Call Issuer"),
        ("2022", "Declined - Updated Cardholder Available"),
    ],
)
def test_braintree_do_not_retry_declines_carry_the_advice(
    adapter,  # noqa: F811
    mocked,  # noqa: F811
    processor_code,
    text,
):
    error = _braintree_decline(adapter, mocked, processor_code, text)
    assert (error.code, error.provider_code) == ("card_declined", processor_code)
    assert error.advice_code == "do_not_try_again"


def test_braintree_do_not_honor_has_no_advice(adapter, mocked):  # noqa: F811
    error = _braintree_decline(adapter, mocked, "2000", "Do Not Honor")
    assert error.code == "card_declined"
    assert getattr(error, "advice_code", "") == ""


@pytest.mark.parametrize(
    ("advice", "code", "advice_code"),
    [
        ("21", "stop_payment", "do_not_try_again"),
        ("03", "card_declined", "do_not_try_again"),
        ("02", "card_declined", "try_again_later"),
    ],
)
def test_paypal_payment_advice_code(advice, code, advice_code):
    refused = paypal_capture_refusal(paypal_adapter(), advice)
    assert (refused.code, refused.provider_code) == (code, "0500")
    assert refused.advice_code == advice_code
