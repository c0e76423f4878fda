"""A period charged three times (two tries failed as never charged, then
reported paid after a third try charged it) needs two refunds: every charge
but one goes to review, not only the first one reported."""

import pytest

from payments.models import Payment, PaymentStatus, ReviewState
from payments.services.recurring import recurring_charges_report
from tests.payments.recurring_setup import (
    failed_as_never_charged,
    found_never_charged,
    gateway_says,
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
    rerun_unknown,
)

pytestmark = pytest.mark.django_db


def _never_charged_again(primary, recurring, reference: str) -> Payment:
    """The slot's next try got no answer, then was found never charged."""
    return found_never_charged(primary, rerun_unknown(primary, recurring), reference)


def _reviewed(payment: Payment, *others: Payment) -> None:
    """In review, with one note naming another charge of the period."""
    payment.refresh_from_db()
    assert payment.review_state == ReviewState.PENDING
    (note,) = payment.notes.filter(kind="recurring_charged_twice")
    assert any(other.public_id in note.title for other in others)


def _three_tries(primary, recurring) -> tuple[Payment, Payment, Payment]:
    first = failed_as_never_charged(primary, recurring, "ch_first")
    second = _never_charged_again(primary, recurring, "ch_second")
    assert recurring_charges_report().charged == 1
    third = payments_of(recurring)[-1]
    assert third.status == PaymentStatus.CAPTURED
    return first, second, third


def test_two_late_payments_after_the_period_was_charged_both_go_to_review(
    primary, recurring, django_capture_on_commit_callbacks
):
    first, second, third = _three_tries(primary, recurring)

    gateway_says(django_capture_on_commit_callbacks, "payment.captured", "ch_first")
    gateway_says(django_capture_on_commit_callbacks, "payment.captured", "ch_second")

    _reviewed(first, third)
    _reviewed(second, first, third)
    third.refresh_from_db()
    assert not third.notes.filter(kind="recurring_charged_twice").exists()


def test_a_retry_found_paid_after_two_late_payments_reviews_both(
    primary, recurring, monkeypatch, django_capture_on_commit_callbacks
):
    # Both tries reported paid while the third one's outcome is open: noted;
    # the third found paid reviews each of them (three charges, two refunds).
    first = failed_as_never_charged(primary, recurring, "ch_first")
    second = _never_charged_again(primary, recurring, "ch_second")
    third = rerun_unknown(primary, recurring)
    gateway_says(django_capture_on_commit_callbacks, "payment.captured", "ch_first")
    gateway_says(django_capture_on_commit_callbacks, "payment.captured", "ch_second")
    Payment.objects.filter(pk=third.pk).update(provider_reference="ch_third")

    gateway_says(django_capture_on_commit_callbacks, "payment.captured", "ch_third")

    third.refresh_from_db()
    assert third.status == PaymentStatus.CAPTURED
    _reviewed(first, third)
    _reviewed(second, first, third)
    assert not third.notes.filter(kind="recurring_charged_twice").exists()
