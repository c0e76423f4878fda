"""A monthly charge on the 31st keeps the 31st: a short month's charge falls
on its last day, and the next long month's on the 31st again (as the API's
docs promise: later charges keep the first run's day and time)."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from payments import services
from payments.models import RecurringCharge, SavedPaymentMethod
from payments.services.recurring import recurring_charges_report

pytestmark = pytest.mark.django_db


@pytest.fixture
def method(primary) -> SavedPaymentMethod:
    saved = services.payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m1"
    )
    SavedPaymentMethod.objects.filter(pk=saved.pk).update(exp_month=None, exp_year=None)
    return saved


def test_a_charge_on_the_31st_comes_back_to_the_31st(api, method):
    year = datetime.now(UTC).year + 1
    first = datetime(year, 1, 31, 9, 0, tzinfo=UTC)
    response = api.post(
        "/api/v1/customers/cus_1/recurring-charges/",
        {
            "payment_method": method.public_id,
            "amount": 990,
            "currency": "EUR",
            "interval": "month",
            "first_run_at": first.isoformat(),
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )
    assert response.status_code == 201, response.content
    recurring = RecurringCharge.objects.get(public_id=response.json()["id"])

    seen = []
    for _ in range(3):
        recurring.refresh_from_db()
        due = recurring.next_run_at
        assert recurring_charges_report(now=due + timedelta(minutes=1)).charged == 1
        seen.append(due.day)
    recurring.refresh_from_db()
    seen.append(recurring.next_run_at.day)

    # Jan 31, Feb 28 (29), Mar 31, Apr 30.
    assert seen[0] == 31 and seen[1] in (28, 29)
    assert seen[2:] == [31, 30]
