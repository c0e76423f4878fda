"""The customer velocity rule counts the customer's payments as they are
stored: a saved method kept under a reference with surrounding spaces (the
API takes it from the URL as sent) gives its charges that exact reference,
and the screening must count them under it, not under a trimmed copy that
matches no row (every charge would pass the cap unseen)."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from payments import services
from payments.models import Payment, RecurringCharge, SavedPaymentMethod

pytestmark = pytest.mark.django_db

CUSTOMER = "cus_spaced "


@pytest.fixture
def method(primary, api):
    response = api.post(
        "/api/v1/customers/cus_spaced%20/payment-methods/",
        {"source_token": "tok_success"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )
    assert response.status_code == 201, response.json()
    return SavedPaymentMethod.objects.get()


def saved_charge(method) -> Payment:
    return services.saved_method_charge(
        saved_method=method,
        amount=1_000,
        currency="EUR",
        order_id=f"order-{uuid.uuid4().hex[:8]}",
        idempotency_key=uuid.uuid4().hex,
    )


def test_the_saved_method_keeps_the_reference_as_sent(method):
    assert method.customer_reference == CUSTOMER


def test_saved_charges_over_the_cap_are_flagged(method, settings):
    settings.FRAUD_VELOCITY_MAX_PER_CUSTOMER = 2
    saved_charge(method)
    saved_charge(method)
    third = saved_charge(method)
    assert third.customer_reference == CUSTOMER
    assert third.risk_reasons == ["velocity_customer"]


def test_recurring_payments_count_toward_the_saved_charge(method, settings):
    settings.FRAUD_VELOCITY_MAX_PER_CUSTOMER = 1
    RecurringCharge.objects.create(
        saved_method=method,
        amount=1_000,
        currency="EUR",
        interval="month",
        next_run_at=timezone.now() - timedelta(minutes=1),
    )
    assert services.recurring_charges_run() == 1
    assert saved_charge(method).risk_reasons == ["velocity_customer"]


def test_a_blank_reference_still_counts_for_no_one(primary, settings):
    settings.FRAUD_VELOCITY_MAX_PER_CUSTOMER = 1
    for _ in range(2):
        payment = services.payment_create(
            order_id=f"order-{uuid.uuid4().hex[:8]}",
            amount=1_000,
            currency="EUR",
            source_token="tok_success",
            capture=True,
            idempotency_key=uuid.uuid4().hex,
            customer_reference="  ",
        )
        assert payment.risk_reasons == []
