"""revpay22: once the API's Idempotency-Key record has expired (or been
pruned), the same key reaches ``payment_create`` again. A different
request under it (another order, amount, currency, capture, customer or
metadata) must not be answered with the old payment as if it were this
one: the storefront would book the new order as paid with nothing
charged for it. Refused 422 ``idempotency_key_reused``, as the API
refuses a reused key within its lifetime; the very same request still
gets its payment back, never charged twice."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from integrations.models import IdempotencyRecord
from payments import services
from payments.models import Payment, SandboxCharge

pytestmark = pytest.mark.django_db

BODY = {
    "order_id": "order-1",
    "amount": 1_050,
    "currency": "EUR",
    "source_token": "tok_success",
    "capture": True,
    "customer_reference": "cust-1",
    "metadata": {"cart": "c-1"},
}


def pay(api, body: dict, key: str = "k-replay"):
    return api.post("/api/v1/payments/", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def expire_records() -> None:
    past = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS + 1)
    IdempotencyRecord.objects.update(created_at=past)


def charges() -> int:
    return SandboxCharge.objects.filter(kind="payment").count()


@pytest.mark.parametrize(
    "change",
    [
        {"order_id": "order-2"},
        {"amount": 99_000},
        {"currency": "USD"},
        {"capture": False},
        {"customer_reference": "cust-2"},
        {"metadata": {"cart": "c-2"}},
    ],
    ids=["order", "amount", "currency", "capture", "customer", "metadata"],
)
def test_another_request_under_an_expired_key_is_refused(api, primary, change):
    first = pay(api, BODY)
    assert first.status_code == 201, first.content
    expire_records()

    again = pay(api, {**BODY, **change})

    assert again.status_code == 422, again.content
    error = again.json()["error"]
    assert (error["code"], error["param"]) == (
        "idempotency_key_reused",
        "Idempotency-Key",
    )
    assert Payment.objects.count() == 1
    assert charges() == 1


def test_the_same_request_under_an_expired_key_gets_its_payment(api, primary):
    first = pay(api, BODY)
    expire_records()

    # Key order in the metadata, and its case in the currency, do not matter.
    again = pay(api, {**BODY, "currency": "eur", "metadata": {"cart": "c-1"}})

    assert again.status_code in (200, 201), again.content
    assert again.json()["id"] == first.json()["id"]
    assert charges() == 1


def test_the_service_refuses_another_request_under_a_used_key(primary):
    def create(**change):
        fields = {**BODY, **change}
        return services.payment_create(
            order_id=fields["order_id"],
            amount=fields["amount"],
            currency=fields["currency"],
            source_token=fields["source_token"],
            capture=fields["capture"],
            customer_reference=fields["customer_reference"],
            metadata=fields["metadata"],
            idempotency_key="svc-1",
        )

    first = create(metadata=None)
    assert create(metadata={}).pk == first.pk  # none and {} are one
    with pytest.raises(services.PaymentError) as caught:
        create(order_id="order-9", metadata=None)
    assert caught.value.code == "idempotency_key_reused"
    assert charges() == 1
