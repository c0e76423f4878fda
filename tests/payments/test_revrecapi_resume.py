"""A resume after the charge's date passed while paused: the periods missed
while paused are not back-charged, but the period the resume begins is paid
for at once, so pausing over each renewal never serves a period unpaid."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from payments import services
from payments.models import RecurringCharge, SavedPaymentMethod
from payments.services.recurring import recurring_charges_report
from tests.payments.recurring_setup import charges

pytestmark = pytest.mark.django_db


@pytest.fixture
def method(primary) -> SavedPaymentMethod:
    return services.payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m1"
    )


def post(api, url: str, body: dict | None = None):
    response = api.post(
        url, body or {}, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex
    )
    assert response.status_code in (200, 201), response.content
    return response.json()


def weekly(api, method) -> RecurringCharge:
    body = {
        "payment_method": method.public_id,
        "amount": 990,
        "currency": "EUR",
        "interval": "week",
    }
    data = post(api, "/api/v1/customers/cus_1/recurring-charges/", body)
    assert recurring_charges_report().charged == 1
    return RecurringCharge.objects.get(public_id=data["id"])


def pause_over_renewal(api, recurring: RecurringCharge, missed: timedelta) -> dict:
    """Pause, let the charge's date pass ``missed`` ago, resume."""
    post(api, f"/api/v1/recurring-charges/{recurring.public_id}/pause/")
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        next_run_at=timezone.now() - missed
    )
    return post(api, f"/api/v1/recurring-charges/{recurring.public_id}/resume/")


def test_pausing_over_each_renewal_never_serves_a_period_unpaid(api, method, primary):
    recurring = weekly(api, method)

    for _ in range(3):
        pause_over_renewal(api, recurring, timedelta(minutes=1))
        assert recurring_charges_report().charged == 1

    assert charges(primary) == 4


def test_resume_after_missed_periods_charges_once_and_restarts_the_schedule(
    api, method, primary
):
    recurring = weekly(api, method)
    before = timezone.now()

    data = pause_over_renewal(api, recurring, timedelta(weeks=2, hours=1))

    recurring.refresh_from_db()
    assert before <= recurring.next_run_at <= timezone.now()
    assert data["next_run_at"].startswith(f"{recurring.next_run_at:%Y-%m-%dT%H:%M}")
    resumed_at = recurring.next_run_at
    # One charge for the period the resume begins; the missed three never.
    assert recurring_charges_report().charged == 1
    assert recurring_charges_report().charged == 0
    assert charges(primary) == 2
    recurring.refresh_from_db()
    assert recurring.next_run_at == resumed_at + timedelta(weeks=1)
