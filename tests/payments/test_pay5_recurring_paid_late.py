"""A recurring slot's payment that reconciliation failed as never charged
(its slot given back), which the gateway then reports paid: the period is
charged once. Reported before the next run: the slot is taken back and the
run charges nothing. After the run charged it again: staff are told, in the
review queue, to refund one of the two (while that second try's outcome is
open, only once it is found charged)."""

import pytest
from django.utils import timezone

from payments import services
from payments.models import Payment, PaymentStatus, RecurringCharge, ReviewState
from payments.services.recurring import recurring_charges_report
from tests.payments.recurring_setup import (
    charges,
    gateway_says,
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
)

pytestmark = pytest.mark.django_db


def _unknown_run(primary, recurring: RecurringCharge) -> list[Payment]:
    """The run's charge answered 500: unknown (the slot moved on)."""
    primary.settings = {"error_rate": 1.0}
    primary.save()
    recurring_charges_report()
    primary.settings = {}
    primary.save()
    return payments_of(recurring)


@pytest.fixture
def lost(primary, recurring) -> Payment:
    """A slot's payment reconciliation failed as never charged (its slot
    given back); the gateway knows its charge as ch_lost after all."""
    (payment,) = _unknown_run(primary, recurring)
    Payment.objects.filter(pk=payment.pk).update(
        account=primary, provider_reference="ch_lost"
    )
    services.payments_reconcile_pending()
    payment.refresh_from_db()
    assert (payment.status, payment.failure_code) == (
        PaymentStatus.FAILED,
        "not_found_at_provider",
    )
    recurring.refresh_from_db()
    assert recurring.next_run_at <= timezone.now()  # given back
    return payment


def test_paid_before_the_next_run_takes_the_slot_back(
    primary, recurring, lost, django_capture_on_commit_callbacks
):
    slot = recurring.next_run_at

    gateway_says(django_capture_on_commit_callbacks, "payment.captured", "ch_lost")

    lost.refresh_from_db()
    assert lost.status == PaymentStatus.CAPTURED
    recurring.refresh_from_db()
    assert recurring.next_run_at > slot  # the period is paid
    run = recurring_charges_report()
    assert (run.charged, run.unknown, run.retry) == (0, 0, 0)
    assert payments_of(recurring) == [lost]
    assert charges(primary) == 0


def test_paid_after_the_next_run_charged_again_goes_to_review(
    primary, recurring, lost, django_capture_on_commit_callbacks
):
    assert recurring_charges_report().charged == 1
    _, again = payments_of(recurring)
    assert again.status == PaymentStatus.CAPTURED

    gateway_says(django_capture_on_commit_callbacks, "payment.captured", "ch_lost")

    lost.refresh_from_db()
    assert lost.status == PaymentStatus.CAPTURED
    assert lost.review_state == ReviewState.PENDING
    note = lost.notes.get(kind="recurring_charged_twice")
    assert again.public_id in note.title + note.detail
    assert "refund" in note.detail
    # Nothing else is charged for the period.
    assert recurring_charges_report().charged == 0
    assert charges(primary) == 1


def test_a_recharge_still_open_is_noted_and_never_given_back_again(
    primary, recurring, lost, django_capture_on_commit_callbacks
):
    # The run's second try of the period got no answer either.
    _, again = _unknown_run(primary, recurring)
    assert again.status == PaymentStatus.UNKNOWN

    gateway_says(django_capture_on_commit_callbacks, "payment.captured", "ch_lost")
    lost.refresh_from_db()
    # Not charged twice unless the second try is found paid too: noted.
    assert lost.notes.filter(kind="recurring_rerun_open").exists()
    assert not lost.notes.filter(kind="recurring_charged_twice").exists()

    # Reconciliation then finds the second try never charged: the period is
    # paid by the first, so its slot is not given back to be charged again.
    services.payments_reconcile_pending()
    again.refresh_from_db()
    assert (again.status, again.failure_code) == (
        PaymentStatus.FAILED,
        "not_found_at_provider",
    )
    assert recurring_charges_report().charged == 0
    assert len(payments_of(recurring)) == 2
    assert charges(primary) == 0
    lost.refresh_from_db()
    assert not lost.notes.filter(kind="recurring_charged_twice").exists()
