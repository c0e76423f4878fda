"""A recurring charge's first run far in the future is refused: a method
with no expiry (a PayPal account) would otherwise hold a subscription that
never charges (year 9999), and a typo'd year would pass silently."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from payments import services
from payments.models import RecurringCharge, SavedPaymentMethod

pytestmark = pytest.mark.django_db


@pytest.fixture
def method(primary) -> SavedPaymentMethod:
    saved = services.payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m1"
    )
    # No expiry, as a PayPal account's.
    SavedPaymentMethod.objects.filter(pk=saved.pk).update(exp_month=None, exp_year=None)
    return saved


def create(api, method, first_run_at: str):
    return api.post(
        "/api/v1/customers/cus_1/recurring-charges/",
        {
            "payment_method": method.public_id,
            "amount": 990,
            "currency": "EUR",
            "interval": "month",
            "first_run_at": first_run_at,
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )


@pytest.mark.parametrize(
    "first_run_at",
    ["9999-12-31T23:59:59Z", "2205-01-01T09:00:00Z"],
)
def test_a_first_run_far_ahead_is_a_400(api, method, first_run_at):
    response = create(api, method, first_run_at)

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("first_run_too_far", "first_run_at")
    assert "two years" in error["message"]
    assert RecurringCharge.objects.count() == 0


def test_a_first_run_within_two_years_is_taken(api, method):
    ahead = timezone.now() + timedelta(days=729)

    assert create(api, method, ahead.isoformat()).status_code == 201
