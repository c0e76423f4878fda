"""A recurring charge stopped by the decline of its period (``failed``) and
resumed, or moved to a new card, before its next date: the declined period
is unpaid, so the period the resume begins is charged at once, as when its
date passed. Keeping the next date served the rest of the declined period
free, and a card declined each period, resumed each time, was never charged.
"""

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
    SavedPaymentMethod,
)
from payments.services.recurring import recurring_charges_report

pytestmark = pytest.mark.django_db


def post(api, url: str, body: dict | None = None):
    return api.post(
        url, body or {}, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex
    )


def card(method: SavedPaymentMethod, token: str) -> None:
    SandboxCharge.objects.filter(
        kind="method", reference=method.provider_method_id
    ).update(source_token=token)


@pytest.fixture
def old(primary) -> SavedPaymentMethod:
    return services.payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m1"
    )


@pytest.fixture
def declined(api, old) -> RecurringCharge:
    """A monthly charge whose first period was declined just now: stopped,
    its next date a month ahead."""
    body = {
        "payment_method": old.public_id,
        "amount": 990,
        "currency": "EUR",
        "interval": "month",
    }
    response = post(api, "/api/v1/customers/cus_1/recurring-charges/", body)
    assert response.status_code == 201, response.content
    card(old, "tok_decline")
    assert recurring_charges_report().declined == 1
    recurring = RecurringCharge.objects.get(public_id=response.json()["id"])
    assert recurring.status == RecurringStatus.FAILED
    assert recurring.next_run_at > timezone.now()
    return recurring


def captured(recurring: RecurringCharge) -> int:
    return Payment.objects.filter(
        metadata__recurring_charge=recurring.public_id,
        status=PaymentStatus.CAPTURED,
    ).count()


def test_resumed_within_its_declined_period_is_charged_at_once(api, declined, old):
    card(old, "tok_success")
    before = timezone.now()

    response = post(api, f"/api/v1/recurring-charges/{declined.public_id}/resume/")

    assert response.status_code == 200, response.content
    declined.refresh_from_db()
    assert before <= declined.next_run_at <= timezone.now()
    assert declined.anchor_day == declined.next_run_at.day
    assert recurring_charges_report().charged == 1
    assert recurring_charges_report().charged == 0
    assert captured(declined) == 1


def test_moved_within_its_declined_period_is_charged_at_once(api, declined, primary):
    new = services.payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m2"
    )

    response = post(
        api,
        f"/api/v1/recurring-charges/{declined.public_id}/payment-method/",
        {"payment_method": new.public_id},
    )

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "active"
    assert recurring_charges_report().charged == 1
    assert captured(declined) == 1


def test_resumed_each_time_on_a_dead_card_is_never_served_free(api, declined):
    # The card keeps declining; the customer resumes after each decline.
    for _ in range(3):
        response = post(api, f"/api/v1/recurring-charges/{declined.public_id}/resume/")
        assert response.status_code == 200, response.content
        report = recurring_charges_report()
        assert (report.declined, report.charged) == (1, 0)
        declined.refresh_from_db()
        assert declined.status == RecurringStatus.FAILED
    # Stopped again each time; nothing more tried until the next resume.
    assert recurring_charges_report().declined == 0
    tries = Payment.objects.filter(metadata__recurring_charge=declined.public_id)
    assert tries.count() == 4
    assert not tries.exclude(status=PaymentStatus.FAILED).exists()
