"""Property: no sequence of captures and refunds breaks
0 <= refunded <= captured <= authorized."""

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payments import services
from payments.models import Payment

pytestmark = pytest.mark.django_db

operations = st.lists(
    st.tuples(st.sampled_from(["capture", "refund", "void"]), st.integers(-5, 1500)),
    max_size=8,
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(amount=st.integers(1, 1200), ops=operations)
def test_amounts_stay_ordered(primary, amount: int, ops: list) -> None:
    payment = services.payment_create(
        order_id="prop",
        amount=amount,
        currency="EUR",
        source_token="tok_success",
        capture=False,
        idempotency_key=uuid.uuid4().hex,
    )
    for name, value in ops:
        try:
            if name == "capture":
                services.payment_capture(payment=payment, amount=value)
            elif name == "refund":
                services.payment_refund(payment=payment, amount=value)
            else:
                services.payment_void(payment=payment)
        except services.PaymentError:
            pass  # refused: the invariant must still hold
        row = Payment.objects.get(pk=payment.pk)
        assert 0 <= row.amount_refunded <= row.amount_captured
        assert row.amount_captured <= row.amount_authorized <= row.amount
