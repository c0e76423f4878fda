"""A first run without a UTC offset is refused: its meaning would hang on
the deploy's TIME_ZONE setting (and fall in a DST gap in some zones)."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from payments import services
from payments.models import RecurringCharge

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("offset", ["", "Z", "+02:00"])
def test_first_run_needs_a_utc_offset(api, primary, offset):
    method = services.payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m1"
    )
    when = f"{timezone.now() + timedelta(days=30):%Y-%m-%dT%H:%M:%S}{offset}"
    response = api.post(
        "/api/v1/customers/cus_1/recurring-charges/",
        {
            "payment_method": method.public_id,
            "amount": 990,
            "currency": "EUR",
            "interval": "month",
            "first_run_at": when,
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )

    if offset:
        assert response.status_code == 201, response.content
        return
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("naive_datetime", "first_run_at")
    assert "offset" in error["message"]
    assert RecurringCharge.objects.count() == 0
