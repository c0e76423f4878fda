"""saved21: a saved-method charge's repeated idempotency key with another
amount, currency or method is refused (as the API answers 422 to a key
reused with another body); the same request again returns its payment."""

import pytest

from payments import services
from payments.models import Payment, PaymentStatus, SandboxCharge
from tests.payments.recurring_setup import outcomes_at_once

pytestmark = pytest.mark.django_db

CUSTOMER = "cus_saved21_key"


@pytest.fixture
def method(primary):
    return services.payment_method_save(
        customer_reference=CUSTOMER, source_token="tok_success", idempotency_key="m1"
    )


@pytest.fixture
def other_method(primary):
    return services.payment_method_save(
        customer_reference=CUSTOMER, source_token="tok_mastercard", idempotency_key="m2"
    )


def charge(method, *, amount=1_000, currency="EUR", key="k1") -> Payment:
    return services.saved_method_charge(
        saved_method=method,
        amount=amount,
        currency=currency,
        order_id="order-1",
        idempotency_key=key,
    )


def test_the_same_request_again_returns_its_payment(method):
    first = charge(method)
    again = charge(method, currency="eur")
    assert again.pk == first.pk
    assert again.status == PaymentStatus.CAPTURED
    assert SandboxCharge.objects.filter(kind="payment").count() == 1


@pytest.mark.parametrize(("change", "value"), [("amount", 2_000), ("currency", "USD")])
def test_another_amount_or_currency_under_the_key_is_refused(method, change, value):
    first = charge(method)
    with pytest.raises(services.PaymentError) as caught:
        charge(method, **{change: value})
    assert caught.value.code == "idempotency_key_reused"
    assert caught.value.param == "idempotency_key"
    assert Payment.objects.get() == first
    assert SandboxCharge.objects.filter(kind="payment").count() == 1


def test_another_method_under_the_key_is_refused(method, other_method):
    charge(method)
    with pytest.raises(services.PaymentError) as caught:
        charge(other_method)
    assert caught.value.code == "idempotency_key_reused"
    assert Payment.objects.count() == 1
    assert SandboxCharge.objects.filter(kind="payment").count() == 1


def test_a_blocked_charge_is_held_to_its_request_too(method, settings):
    settings.FRAUD_AMOUNT_THRESHOLDS = {"EUR": 500}
    settings.FRAUD_RULE_SCORES = {
        **settings.FRAUD_RULE_SCORES,
        "amount_over_threshold": 100,
    }
    assert charge(method).status == PaymentStatus.BLOCKED
    assert charge(method).status == PaymentStatus.BLOCKED
    # A smaller amount under the blocked key is no way past the block.
    with pytest.raises(services.PaymentError):
        charge(method, amount=400)
    assert SandboxCharge.objects.filter(kind="payment").count() == 0


def test_a_charge_stored_before_payments_named_their_method(method):
    """A payment of the key stored before the method was recorded on it (the
    upgrade): the same customer, amount and currency are its retry, answered
    with it (never charged again); another customer's is refused."""
    first = charge(method)
    Payment.objects.filter(pk=first.pk).update(saved_method=None)
    assert charge(method).pk == first.pk
    with pytest.raises(services.PaymentError):
        charge(method, amount=2_000)
    Payment.objects.filter(pk=first.pk).update(customer_reference="someone-else")
    with pytest.raises(services.PaymentError) as caught:
        charge(method)
    assert caught.value.code == "idempotency_key_reused"
    assert SandboxCharge.objects.filter(kind="payment").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_charge_with_another_amount_is_refused(primary):
    """Two calls at once with one key and two amounts: one payment, the
    other call refused (not handed the first's payment)."""
    method = services.payment_method_save(
        customer_reference=CUSTOMER, source_token="tok_success", idempotency_key="m9"
    )
    outcomes = outcomes_at_once(
        lambda amount: charge(method, amount=amount, key="race"), (1_000, 2_000)
    )

    payments = [o for o in outcomes if isinstance(o, Payment)]
    errors = [o for o in outcomes if isinstance(o, services.PaymentError)]
    assert len(payments) == 1 and len(errors) == 1, outcomes
    assert errors[0].code == "idempotency_key_reused"
    assert Payment.objects.count() == 1
