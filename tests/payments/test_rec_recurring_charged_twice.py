"""A late payment (a slot's try failed as never charged, then reported paid)
arriving while the period's retry is still open is not reviewed as charged
twice yet: it is noted, the slot is never given back meanwhile, and review
comes only once the retry is found paid too, however that is learnt (the
run's own answer, reconciliation, the gateway's webhook, staff). A retry
found never charged leaves the period paid once."""

import pytest

from payments import services
from payments.models import Payment, PaymentStatus, RecurringStatus, ReviewState
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.services import recurring as methods_recurring
from payments.services.recurring import recurring_charges_report
from tests.payments.recurring_setup import (
    charges,
    gateway_says,
    lost_payment,  # noqa: F401 (the ``lost`` fixture)
    paid_lookup,
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
    rerun_unknown,
)

pytestmark = pytest.mark.django_db


def _paid_late_while_retry_open(primary, recurring, lost, callbacks) -> Payment:
    retry = rerun_unknown(primary, recurring)
    gateway_says(callbacks, "payment.captured", "ch_lost")
    lost.refresh_from_db()
    assert lost.status == PaymentStatus.CAPTURED
    return retry


def _reviewed_as_charged_twice(lost: Payment, retry: Payment) -> None:
    lost.refresh_from_db()
    assert lost.review_state == ReviewState.PENDING
    (note,) = lost.notes.filter(kind="recurring_charged_twice")
    assert retry.public_id in note.title + note.detail
    assert "refund" in note.detail


def test_a_retry_still_open_defers_the_review_and_found_unpaid_needs_none(
    primary, recurring, lost, django_capture_on_commit_callbacks
):
    retry = _paid_late_while_retry_open(
        primary, recurring, lost, django_capture_on_commit_callbacks
    )

    # The retry may yet be charged: noted, not reviewed as charged twice.
    assert not lost.notes.filter(kind="recurring_charged_twice").exists()
    (note,) = lost.notes.filter(kind="recurring_rerun_open")
    assert retry.public_id in note.title

    services.payments_reconcile_pending()

    retry.refresh_from_db()
    assert (retry.status, retry.failure_code) == (
        PaymentStatus.FAILED,
        "not_found_at_provider",
    )
    lost.refresh_from_db()
    assert not lost.notes.filter(kind="recurring_charged_twice").exists()
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.ACTIVE
    # Paid once, by the late payment: never charged a third time.
    assert recurring_charges_report().charged == 0
    assert len(payments_of(recurring)) == 2
    assert charges(primary) == 0


def test_a_retry_reconciliation_finds_paid_puts_the_late_payment_in_review(
    primary, recurring, lost, monkeypatch, django_capture_on_commit_callbacks
):
    retry = _paid_late_while_retry_open(
        primary, recurring, lost, django_capture_on_commit_callbacks
    )
    monkeypatch.setattr(SandboxPaymentsAdapter, "retrieve_by_key", paid_lookup)

    services.payments_reconcile_pending()

    retry.refresh_from_db()
    assert retry.status == PaymentStatus.CAPTURED
    _reviewed_as_charged_twice(lost, retry)


def test_a_retry_the_webhook_reports_paid_puts_the_late_payment_in_review(
    primary, recurring, lost, django_capture_on_commit_callbacks
):
    retry = _paid_late_while_retry_open(
        primary, recurring, lost, django_capture_on_commit_callbacks
    )
    Payment.objects.filter(pk=retry.pk).update(provider_reference="ch_retry")

    gateway_says(django_capture_on_commit_callbacks, "payment.captured", "ch_retry")

    retry.refresh_from_db()
    assert retry.status == PaymentStatus.CAPTURED
    _reviewed_as_charged_twice(lost, retry)
    # Told again: one review note for the period.
    gateway_says(django_capture_on_commit_callbacks, "payment.captured", "ch_retry")
    _reviewed_as_charged_twice(lost, retry)


def test_a_retry_staff_settle_as_paid_puts_the_late_payment_in_review(
    primary, recurring, lost, monkeypatch, django_capture_on_commit_callbacks
):
    retry = _paid_late_while_retry_open(
        primary, recurring, lost, django_capture_on_commit_callbacks
    )
    monkeypatch.setattr(SandboxPaymentsAdapter, "retrieve_by_key", paid_lookup)
    retry.refresh_from_db()

    services.payment_settle_by_hand(
        payment=retry,
        outcome="captured",
        provider_reference="ch_retry",
        note="captured in the gateway's dashboard",
        actor="staff",
    )

    retry.refresh_from_db()
    assert retry.status == PaymentStatus.CAPTURED
    _reviewed_as_charged_twice(lost, retry)


def test_a_late_payment_reported_during_the_retrys_call_is_reviewed_by_the_run(
    primary, recurring, lost, monkeypatch, django_capture_on_commit_callbacks
):
    # The run charges the slot again; while it waits for the gateway, the
    # gateway reports the first try paid (the retry's outcome still open).
    charge = SandboxPaymentsAdapter.charge_saved

    def paid_meanwhile(adapter, request):
        gateway_says(django_capture_on_commit_callbacks, "payment.captured", "ch_lost")
        lost.refresh_from_db()
        assert not lost.notes.filter(kind="recurring_charged_twice").exists()
        return charge(adapter, request)

    monkeypatch.setattr(SandboxPaymentsAdapter, "charge_saved", paid_meanwhile)

    assert recurring_charges_report().charged == 1

    _, retry = payments_of(recurring)
    assert retry.status == PaymentStatus.CAPTURED
    _reviewed_as_charged_twice(lost, retry)
    assert charges(primary) == 1


def test_a_run_killed_after_its_retrys_answer_still_reviews_the_period(
    primary, recurring, lost, monkeypatch, django_capture_on_commit_callbacks
):
    charge = SandboxPaymentsAdapter.charge_saved

    def paid_meanwhile(adapter, request):
        gateway_says(django_capture_on_commit_callbacks, "payment.captured", "ch_lost")
        return charge(adapter, request)

    def killed(*args, **kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr(SandboxPaymentsAdapter, "charge_saved", paid_meanwhile)
    # The run dies once the retry's answer is stored, before its record.
    monkeypatch.setattr(methods_recurring, "_recurring_record", killed)

    assert len(recurring_charges_report().errors) == 1

    _, retry = payments_of(recurring)
    assert retry.status == PaymentStatus.CAPTURED
    _reviewed_as_charged_twice(lost, retry)
