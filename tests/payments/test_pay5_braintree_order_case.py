"""Braintree's transaction search matches text fields through its search
index, which its documentation does not promise to be case-sensitive: a
duplicate look-up for order "ORDER-3003" may be answered with the sale of
order "order-3003", another order's charge. Only a sale whose order id is
exactly ours is booked to the payment."""

import pytest

from payments import services
from payments.models import Payment, PaymentStatus
from tests.payments.braintree_saved import (  # noqa: F401 (fixtures)
    braintree_account,
    rsps_mock,
)
from tests.payments.test_pay_recurring import (
    BT_TXN,
    _braintree_method,
    _rejected_as_duplicate,
    _sale_found,
)
from tests.payments.test_reconcile_providers import BT_BASE, XML

pytestmark = pytest.mark.django_db


def _refused_charge(rsps, method, order_id: str) -> Payment:
    rsps.post(
        f"{BT_BASE}/transactions",
        status=422,
        body=_rejected_as_duplicate(order_id),
        **XML,
    )
    return services.saved_method_charge(
        saved_method=method,
        amount=1050,
        currency="USD",
        order_id=order_id,
        idempotency_key=f"k-{order_id}",
    )


def test_a_sale_of_an_order_id_in_another_case_is_not_booked(braintree, rsps):
    method = _braintree_method(rsps)
    # The search answers with another order's sale: same letters, other case.
    _sale_found(rsps, "order-3003")

    payment = _refused_charge(rsps, method, "ORDER-3003")

    payment.refresh_from_db()
    assert payment.provider_reference != BT_TXN
    assert payment.status == PaymentStatus.UNKNOWN
    assert not Payment.objects.filter(provider_reference=BT_TXN).exists()


def test_a_sale_of_exactly_this_order_id_is_booked(braintree, rsps):
    method = _braintree_method(rsps)
    _sale_found(rsps, "ORDER-3003")

    payment = _refused_charge(rsps, method, "ORDER-3003")

    payment.refresh_from_db()
    assert payment.provider_reference == BT_TXN
    assert payment.status in (PaymentStatus.AUTHORIZED, PaymentStatus.CAPTURED)
