"""revsaved21: a saved-method charge's key repeated for another order or
another capture choice is refused, as for another amount (the API refuses a
key reused with any other body): answering with the first order's payment
would let the caller take another order as paid. Concurrent calls with one
key: one payment, one gateway call, the other call refused."""

import pytest

from payments import services
from payments.models import Payment, PaymentStatus, SandboxCharge
from tests.payments.recurring_setup import outcomes_at_once

pytestmark = pytest.mark.django_db

CUSTOMER = "cus_rs21_key"


@pytest.fixture
def method(primary):
    return services.payment_method_save(
        customer_reference=CUSTOMER, source_token="tok_success", idempotency_key="m1"
    )


def charge(method, *, order_id="order-1", key="k1", **extra) -> Payment:
    return services.saved_method_charge(
        saved_method=method,
        amount=1_000,
        currency="EUR",
        order_id=order_id,
        idempotency_key=key,
        **extra,
    )


def test_another_order_under_the_key_is_refused(method):
    first = charge(method)
    with pytest.raises(services.PaymentError) as caught:
        charge(method, order_id="order-2")
    assert caught.value.code == "idempotency_key_reused"
    assert caught.value.param == "idempotency_key"
    assert Payment.objects.get() == first
    assert SandboxCharge.objects.filter(kind="payment").count() == 1


def test_another_capture_choice_under_the_key_is_refused(method):
    first = charge(method, capture=False)
    assert first.status == PaymentStatus.AUTHORIZED
    with pytest.raises(services.PaymentError) as caught:
        charge(method, capture=True)
    assert caught.value.code == "idempotency_key_reused"
    assert SandboxCharge.objects.filter(kind="payment").count() == 1


def test_the_same_request_again_is_still_answered_with_its_payment(method):
    first = charge(method, capture=False, metadata={"a": "1"})
    again = charge(method, capture=False, metadata={"a": "1"})
    assert again.pk == first.pk
    assert SandboxCharge.objects.filter(kind="payment").count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_calls_for_two_orders_charge_once(primary):
    method = services.payment_method_save(
        customer_reference=CUSTOMER, source_token="tok_success", idempotency_key="m9"
    )
    outcomes = outcomes_at_once(
        lambda order_id: charge(method, order_id=order_id, key="race"), ("o-1", "o-2")
    )

    payments = [o for o in outcomes if isinstance(o, Payment)]
    errors = [o for o in outcomes if isinstance(o, services.PaymentError)]
    assert len(payments) == 1 and len(errors) == 1, outcomes
    assert errors[0].code == "idempotency_key_reused"
    assert Payment.objects.count() == 1
    # The refused call reached no gateway.
    assert SandboxCharge.objects.filter(kind="payment").count() == 1
