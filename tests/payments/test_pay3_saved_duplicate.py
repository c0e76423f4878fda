"""A one-off saved-method charge the gateway refuses as a duplicate of one it
holds is looked up as a recurring slot's is (the same reconciliation): the
gateway's charge for this order (an earlier try whose outcome we lost, say)
is found and booked, or the payment stays unknown while the search may lag;
it is never failed as duplicate_transaction with the money taken. Braintree
answers as in tests/payments/test_pay_recurring.py (fixtures/braintree)."""

import pytest

from payments import services
from payments.models import PaymentStatus
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


def _charge(method):
    return services.saved_method_charge(
        saved_method=method,
        amount=1050,
        currency="USD",
        order_id="order-1001",
        idempotency_key="reorder-1",
    )


def test_a_one_off_charge_refused_as_a_duplicate_is_found_and_booked(braintree, rsps):
    method = _braintree_method(rsps)
    rsps.post(
        f"{BT_BASE}/transactions",
        status=422,
        body=_rejected_as_duplicate("order-1001"),
        **XML,
    )
    _sale_found(rsps, "order-1001")

    payment = _charge(method)

    assert payment.status == PaymentStatus.CAPTURED, payment.failure_code
    assert payment.amount_captured == 1050
    assert payment.provider_reference == BT_TXN


def test_a_one_off_duplicate_not_found_yet_stays_unknown_not_failed(braintree, rsps):
    method = _braintree_method(rsps)
    rsps.post(
        f"{BT_BASE}/transactions",
        status=422,
        body=_rejected_as_duplicate("order-1001"),
        **XML,
    )
    _sale_found(rsps, "order-1001", found=False)

    payment = _charge(method)

    assert payment.status == PaymentStatus.UNKNOWN
    assert payment.account_id == braintree.pk
