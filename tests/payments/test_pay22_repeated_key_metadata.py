"""pay22: a saved-method charge's key repeated with other metadata is
refused (idempotency_key_reused), as the API refuses a key reused with any
other body: the metadata is part of the request (the order's references
reach the gateway with it)."""

import pytest

from payments import services
from payments.models import Payment, SandboxCharge

pytestmark = pytest.mark.django_db


@pytest.fixture
def method(primary):
    return services.payment_method_save(
        customer_reference="cus_pay22_key",
        source_token="tok_success",
        idempotency_key="m1",
    )


def charge(method, metadata=None) -> Payment:
    return services.saved_method_charge(
        saved_method=method,
        amount=1_000,
        currency="EUR",
        order_id="order-1",
        idempotency_key="k1",
        metadata=metadata,
    )


@pytest.mark.parametrize(
    "again",
    [{"cart": "c-2"}, {"cart": "c-1", "coupon": "x"}, {}, None],
    ids=["changed", "added", "emptied", "omitted"],
)
def test_other_metadata_under_the_key_is_refused(method, again):
    first = charge(method, {"cart": "c-1"})
    with pytest.raises(services.PaymentError) as caught:
        charge(method, again)
    assert caught.value.code == "idempotency_key_reused"
    assert caught.value.param == "idempotency_key"
    assert Payment.objects.get() == first
    assert SandboxCharge.objects.filter(kind="payment").count() == 1


def test_the_same_metadata_again_returns_the_payment(method):
    first = charge(method, {"cart": "c-1", "n": 2, "tags": ["a", "b"]})
    again = charge(method, {"tags": ["a", "b"], "n": 2, "cart": "c-1"})
    assert again.pk == first.pk
    # No metadata and an empty one are the same request (both stored as {}).
    bare = services.saved_method_charge(
        saved_method=method,
        amount=1_000,
        currency="EUR",
        order_id="order-2",
        idempotency_key="k2",
    )
    assert charge_k2(method, {}).pk == bare.pk
    assert SandboxCharge.objects.filter(kind="payment").count() == 2


def charge_k2(method, metadata) -> Payment:
    return services.saved_method_charge(
        saved_method=method,
        amount=1_000,
        currency="EUR",
        order_id="order-2",
        idempotency_key="k2",
        metadata=metadata,
    )
