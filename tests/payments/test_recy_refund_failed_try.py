"""A refund the gateway reports for a recurring period's failed try never
stands in for its capture: the period does not count as paid (its slot
stays given back, a decline's stop stays), the try stays failed and the
reported refund is on its timeline for staff."""

import pytest
from django.utils import timezone

from payments.models import Payment, PaymentStatus, RecurringStatus, SandboxCharge
from payments.services.recurring import recurring_charges_report
from tests.payments.recurring_setup import (
    failed_as_never_charged,
    gateway_says,
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def lost(primary, recurring) -> Payment:
    return failed_as_never_charged(primary, recurring, "ch_lost")


def test_a_refund_of_a_failed_try_leaves_its_slot_given_back(
    primary, recurring, lost, django_capture_on_commit_callbacks
):
    gateway_says(django_capture_on_commit_callbacks, "payment.refunded", "ch_lost")

    lost.refresh_from_db()
    assert lost.status == PaymentStatus.FAILED
    assert lost.amount_captured == 0
    assert lost.notes.filter(kind="recurring_refund_unpaid").exists()
    recurring.refresh_from_db()
    assert recurring.next_run_at <= timezone.now()  # still given back
    # The period is charged by the next run.
    assert recurring_charges_report().charged == 1


def test_a_refund_of_a_failed_try_does_not_resume_a_declined_period(
    primary, recurring, lost, django_capture_on_commit_callbacks
):
    SandboxCharge.objects.filter(
        kind="method", reference=recurring.saved_method.provider_method_id
    ).update(source_token="tok_decline")
    assert recurring_charges_report().declined == 1
    _, retry = payments_of(recurring)

    gateway_says(django_capture_on_commit_callbacks, "payment.refunded", "ch_lost")

    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED
    assert recurring.last_payment_id == retry.pk
    lost.refresh_from_db()
    assert lost.status == PaymentStatus.FAILED
    assert not lost.notes.filter(kind="recurring_resumed").exists()


def test_a_try_paid_then_refunded_still_counts_as_its_periods_charge(
    primary, recurring, lost, django_capture_on_commit_callbacks
):
    gateway_says(django_capture_on_commit_callbacks, "payment.captured", "ch_lost")
    gateway_says(django_capture_on_commit_callbacks, "payment.refunded", "ch_lost")

    lost.refresh_from_db()
    assert lost.status == PaymentStatus.REFUNDED
    assert not lost.notes.filter(kind="recurring_refund_unpaid").exists()
    recurring.refresh_from_db()
    assert recurring.next_run_at > timezone.now()  # taken back: not charged again
    assert recurring_charges_report().charged == 0
