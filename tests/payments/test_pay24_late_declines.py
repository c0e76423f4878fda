"""pay24 (services, API): a decline learnt late, from a webhook or a look-up,
is stored as the create call's answer would have been (failure code, the
provider's code, the advice), so the card's rules apply whichever way it was
learnt: a hard decline (``stop_payment``) refuses a new charge on the card
with 400 payment_method_declined; a soft one stays chargeable. Stripe
``payment_intent.payment_failed`` and look-up of an intent with
``last_payment_error``; a settlement declined by Braintree after the money
was reported captured (a correction: still final)."""

import pytest
import responses

from payments.models import Payment, PaymentStatus, RecurringCharge, ReviewReason
from payments.services.events import payment_event_apply
from payments.services.reconcile import payment_reconcile
from tests.factories import ProviderAccountFactory
from tests.payments.decline_answers import (
    STOPPED,
    card_error,
    intent_payment,
    stored_webhook,
    stripe_failed_webhook,
)
from tests.payments.providers import test_stripe as st
from tests.payments.recurring_setup import (
    new_charge_on,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
)

pytestmark = pytest.mark.django_db

SOFT = card_error(
    "insufficient_funds",
    advice_code="try_again_later",
    message="Your card has insufficient funds.",
)


@pytest.fixture
def stripe_account():
    return ProviderAccountFactory(
        provider="stripe", slug="stripe-main", credentials={"secret_key": "sk_test_x"}
    )


def stripe_payment(account, method, status=PaymentStatus.PENDING, **fields) -> Payment:
    return intent_payment(account, status, saved_method=method, **fields)


def refused(response) -> bool:
    assert response.status_code == 400, response.content
    return response.json()["error"]["code"] == "payment_method_declined"


def test_stripe_webhook_stop_payment_is_a_hard_decline_of_the_card(
    api, recurring, stripe_account
):
    method = recurring.saved_method
    payment = stripe_payment(stripe_account, method)

    stripe_failed_webhook(stripe_account, STOPPED)

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.FAILED
    assert (payment.failure_code, payment.failure_provider_code) == (
        "stop_payment",
        "stop_payment_order",
    )
    assert refused(new_charge_on(api, method))
    assert RecurringCharge.objects.count() == 1


def test_stripe_webhook_network_advice_do_not_try_again_is_final(
    api, recurring, stripe_account
):
    method = recurring.saved_method
    payment = stripe_payment(stripe_account, method)

    stripe_failed_webhook(
        stripe_account,
        {**STOPPED, "decline_code": "generic_decline", "network_advice_code": "03"},
    )

    payment.refresh_from_db()
    assert (payment.failure_code, payment.failure_advice_code) == (
        "card_declined",
        "do_not_try_again",
    )
    assert refused(new_charge_on(api, method))


def test_stripe_webhook_soft_decline_leaves_the_card_chargeable(
    api, recurring, stripe_account
):
    method = recurring.saved_method
    payment = stripe_payment(stripe_account, method)

    stripe_failed_webhook(stripe_account, SOFT)

    payment.refresh_from_db()
    assert (payment.failure_code, payment.failure_advice_code) == (
        "insufficient_funds",
        "try_again_later",
    )
    assert new_charge_on(api, method).status_code == 201


def test_stripe_webhook_on_a_captured_payment_leaves_it_alone(
    recurring, stripe_account
):
    # payment_failed is not final: a captured payment keeps its status and
    # takes no failure fields.
    payment = stripe_payment(
        stripe_account,
        recurring.saved_method,
        status=PaymentStatus.CAPTURED,
        amount_authorized=2000,
        amount_captured=2000,
    )

    stripe_failed_webhook(stripe_account, STOPPED)

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CAPTURED
    assert (payment.failure_code, payment.failure_advice_code) == ("", "")


@responses.activate
def test_stripe_look_up_of_an_unknown_payment_finds_the_stop_payment(
    api, recurring, stripe_account
):
    method = recurring.saved_method
    payment = stripe_payment(
        stripe_account,
        method,
        status=PaymentStatus.UNKNOWN,
        failure_code="outcome_unknown",
    )
    intent = st.intent(status="requires_payment_method", last_payment_error=STOPPED)
    responses.get(
        f"https://api.stripe.com/v1/payment_intents/{intent['id']}", json=intent
    )

    payment_reconcile(payment=payment)

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.FAILED
    # Not the look-up's generic failed_at_provider: the card's own decline.
    assert (payment.failure_code, payment.failure_provider_code) == (
        "stop_payment",
        "stop_payment_order",
    )
    assert refused(new_charge_on(api, method))


def braintree_settlement_declined(account, reference: str, code: str) -> None:
    payload = {
        "kind": "transaction_settlement_declined",
        "timestamp": "2026-12-01T10:00:00+00:00",
        "transaction": {
            "id": reference,
            "status": "settlement_declined",
            "amount": "20.00",
            "currency": "EUR",
            "processor_response_code": "1000",
            "processor_settlement_response_code": code,
            "gateway_rejection_reason": "",
        },
    }
    stored_webhook(account, payload["kind"], f"sd:{reference}:{code}", payload)


def test_braintree_settlement_declined_keeps_the_decline_and_stays_final(
    api, recurring
):
    account = ProviderAccountFactory(
        provider="braintree",
        slug="braintree-main",
        credentials={"merchant_id": "m", "public_key": "p", "private_key": "k"},
    )
    method = recurring.saved_method
    payment = Payment.objects.create(
        order_id="order-1",
        amount=2000,
        currency="EUR",
        account=account,
        provider_reference="k9y7n3pq",
        idempotency_key="key-bt",
        saved_method=method,
        status=PaymentStatus.CAPTURED,
        amount_authorized=2000,
        amount_captured=2000,
    )

    # 2018 Cardholder Stopped All Billing, as the settlement's response.
    braintree_settlement_declined(account, payment.provider_reference, "2018")

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.FAILED
    assert payment.amount_captured == 0
    assert payment.review_reason == ReviewReason.PROVIDER_CONTRADICTION
    assert (payment.failure_code, payment.failure_provider_code) == (
        "stop_payment",
        "2018",
    )
    assert refused(new_charge_on(api, method))
    # Still final: a late settled notification does not bring it back.
    again = payment_event_apply(payment=payment, kind="succeeded", amount=2000)
    assert again.status == PaymentStatus.FAILED
