"""The metadata keys the recurring run writes for itself (recurring_charge,
recurring_slot) are reserved: refused at the API (400, the project's error
shape) and by the saved-method charge, stated in the schema, and never
trusted from a payment the storefront made (one stored before the refusal)."""

import uuid

import pytest
from django.utils import timezone

from payments import services
from payments.models import (
    Payment,
    PaymentStatus,
    RecurringCharge,
    RecurringStatus,
    SandboxCharge,
)
from payments.services.recurring import recurring_charges_report
from tests.payments.recurring_setup import (
    gateway_says,
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
)

pytestmark = pytest.mark.django_db


def _create(api, metadata):
    return api.post(
        "/api/v1/payments/",
        {
            "order_id": "o-1",
            "amount": 1000,
            "currency": "EUR",
            "source_token": "tok_success",
            "metadata": metadata,
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )


@pytest.mark.parametrize("key", ["recurring_charge", "recurring_slot"])
def test_the_api_refuses_a_reserved_metadata_key(primary, api, recurring, key):
    response = _create(api, {key: recurring.public_id, "cart": "c-1"})
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["param"], error["code"]) == (f"metadata.{key}", "reserved_key")
    assert not Payment.objects.exists()


def test_the_schema_names_the_reserved_keys(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    metadata = schema["components"]["schemas"]["PaymentCreateRequest"]["properties"][
        "metadata"
    ]
    assert "recurring_charge" in metadata["description"]
    assert "recurring_slot" in metadata["description"]


def test_a_saved_method_charge_refuses_a_reserved_metadata_key(primary, recurring):
    with pytest.raises(services.PaymentError) as refused:
        services.saved_method_charge(
            saved_method=recurring.saved_method,
            amount=1_500,
            currency="EUR",
            order_id="o-2",
            idempotency_key="store-1",
            metadata={"recurring_charge": recurring.public_id},
        )
    assert (refused.value.code, refused.value.param) == (
        "reserved_key",
        "metadata.recurring_charge",
    )
    assert not Payment.objects.exists()


def test_a_saved_method_charge_refuses_a_recurring_slots_key(primary, recurring):
    key = f"recurring:{recurring.public_id}:{recurring.next_run_at.isoformat()}"
    with pytest.raises(services.PaymentError) as refused:
        services.saved_method_charge(
            saved_method=recurring.saved_method,
            amount=1_500,
            currency="EUR",
            order_id="o-2",
            idempotency_key=key,
        )
    assert refused.value.param == "idempotency_key"
    assert not Payment.objects.exists()
    # The run still charges its slot itself.
    assert recurring_charges_report().charged == 1


def _storefront_payment(recurring: RecurringCharge, **fields) -> Payment:
    """A payment the storefront made naming the recurring charge and its
    slot (stored before the keys were refused)."""
    slot = recurring.next_run_at
    values = {
        "order_id": f"{recurring.public_id}-{slot:%Y%m%d%H%M}",
        "amount": 1_500,
        "currency": "EUR",
        "metadata": {
            "recurring_charge": recurring.public_id,
            "recurring_slot": slot.isoformat(),
        },
        "idempotency_key": "api-key:1:store-1",
    }
    values.update(fields)
    return Payment.objects.create(**values)


def test_a_storefront_payment_reported_paid_does_not_take_a_slot(
    primary, recurring, django_capture_on_commit_callbacks
):
    slot = recurring.next_run_at
    _storefront_payment(
        recurring,
        status=PaymentStatus.FAILED,
        account=primary,
        provider_reference="ch_store",
    )

    gateway_says(django_capture_on_commit_callbacks, "payment.captured", "ch_store")

    recurring.refresh_from_db()
    assert recurring.next_run_at == slot  # still due: nobody paid this period
    assert recurring_charges_report().charged == 1


def test_a_storefront_payment_holding_money_does_not_stop_a_decline(primary, recurring):
    _storefront_payment(
        recurring,
        status=PaymentStatus.CAPTURED,
        amount_authorized=1_500,
        amount_captured=1_500,
        account=primary,
        provider_reference="ch_store",
        created_at=timezone.now(),
    )
    SandboxCharge.objects.filter(
        kind="method", reference=recurring.saved_method.provider_method_id
    ).update(source_token="tok_decline")

    assert recurring_charges_report().declined == 1

    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED
    declined = payments_of(recurring)[-1]
    assert not declined.notes.filter(kind="recurring_period_paid").exists()
