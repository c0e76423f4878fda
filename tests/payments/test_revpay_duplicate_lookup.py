"""A one-off saved-method charge refused as a duplicate (Braintree's check is
on card and amount, not order) is looked up by its own order id and amount,
never by amount alone; a charge found there that another payment already
holds is not booked to this one (it stays unknown, for staff)."""

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


def _refused_charge(rsps, method, order_id: str, key: str) -> Payment:
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
        idempotency_key=key,
    )


def test_the_look_up_asks_for_this_order_not_the_amount_alone(braintree, rsps):
    method = _braintree_method(rsps)
    _sale_found(rsps, "order-2002", found=False)

    payment = _refused_charge(rsps, method, "order-2002", "k-2002")

    (search,) = [
        c for c in rsps.calls if c.request.url.endswith("/advanced_search_ids")
    ]
    body = search.request.body
    body = body.decode() if isinstance(body, bytes) else body
    assert "<order_id><is>order-2002</is></order_id>" in body
    assert payment.status == PaymentStatus.UNKNOWN


def test_a_charge_another_payment_holds_is_not_booked_to_this_one(braintree, rsps):
    method = _braintree_method(rsps)
    Payment.objects.create(
        account=braintree,
        order_id="order-1001",
        amount=1050,
        currency="USD",
        status=PaymentStatus.CAPTURED,
        amount_authorized=1050,
        amount_captured=1050,
        provider_reference=BT_TXN,
    )
    _sale_found(rsps, "order-1001")

    payment = _refused_charge(rsps, method, "order-1001", "k-second")

    assert payment.provider_reference != BT_TXN
    assert payment.status != PaymentStatus.CAPTURED
    assert Payment.objects.filter(provider_reference=BT_TXN).count() == 1
