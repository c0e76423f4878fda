"""A recurring period's subscription follows what the money says. A slot's
first try failed as never charged (its slot given back) and its next try was
declined; the gateway then reports the first try paid: the period is paid,
so that decline does not keep the subscription stopped (resumed, on the
paid payment's timeline), nor stop it when the decline is learnt after the
period was paid (a note on the declined try). The next period's charge
still tells whether the card works."""

from datetime import timedelta

import pytest
from django.utils import timezone

from payments import services
from payments.models import (
    Payment,
    PaymentStatus,
    RecurringCharge,
    RecurringStatus,
    SandboxCharge,
)
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.services.recurring import recurring_charges_report
from tests.payments.recurring_setup import (
    charges,
    declined_lookup,
    gateway_says,
    lost_payment,  # noqa: F401 (the ``lost`` fixture)
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
    rerun_unknown,
)

pytestmark = pytest.mark.django_db


def _card_declines(recurring: RecurringCharge) -> None:
    SandboxCharge.objects.filter(
        kind="method", reference=recurring.saved_method.provider_method_id
    ).update(source_token="tok_decline")


def test_a_period_paid_late_resumes_what_its_declined_retry_stopped(
    primary, recurring, lost, django_capture_on_commit_callbacks
):
    _card_declines(recurring)
    assert recurring_charges_report().declined == 1
    _, retry = payments_of(recurring)
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED
    assert recurring.last_payment_id == retry.pk

    gateway_says(django_capture_on_commit_callbacks, "payment.captured", "ch_lost")

    lost.refresh_from_db()
    assert lost.status == PaymentStatus.CAPTURED
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.ACTIVE
    assert recurring.last_payment_id == lost.pk
    assert recurring.next_run_at > timezone.now()  # the period is paid
    assert lost.notes.filter(kind="recurring_resumed").exists()
    # Charged once: no second-charge review, and nothing charged again.
    assert not lost.notes.filter(kind="recurring_charged_twice").exists()
    assert recurring_charges_report().charged == 0
    assert charges(primary) == 0  # the retry was declined


def test_the_next_periods_decline_still_stops_a_resumed_charge(
    primary, recurring, lost, django_capture_on_commit_callbacks
):
    _card_declines(recurring)
    recurring_charges_report()
    gateway_says(django_capture_on_commit_callbacks, "payment.captured", "ch_lost")

    # The next period, a month on.
    next_month = timezone.now() + timedelta(days=32)
    assert recurring_charges_report(now=next_month).declined == 1

    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED
    assert recurring.last_payment_id == payments_of(recurring)[-1].pk


def test_a_retrys_decline_reconciliation_finds_after_the_period_was_paid_keeps_it(
    primary, recurring, lost, monkeypatch, django_capture_on_commit_callbacks
):
    retry = rerun_unknown(primary, recurring)
    gateway_says(django_capture_on_commit_callbacks, "payment.captured", "ch_lost")
    monkeypatch.setattr(SandboxPaymentsAdapter, "retrieve_by_key", declined_lookup)

    services.payments_reconcile_pending()

    retry.refresh_from_db()
    assert retry.status == PaymentStatus.FAILED
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.ACTIVE
    note = retry.notes.get(kind="recurring_period_paid")
    assert lost.public_id in note.title
    monkeypatch.undo()
    # The period is paid: not charged again.
    assert recurring_charges_report().charged == 0


def test_a_retrys_decline_the_webhook_reports_after_the_period_was_paid_keeps_it(
    primary, recurring, lost, django_capture_on_commit_callbacks
):
    retry = rerun_unknown(primary, recurring)
    Payment.objects.filter(pk=retry.pk).update(provider_reference="ch_retry")
    gateway_says(django_capture_on_commit_callbacks, "payment.captured", "ch_lost")

    gateway_says(django_capture_on_commit_callbacks, "payment.failed", "ch_retry")

    retry.refresh_from_db()
    assert retry.status == PaymentStatus.FAILED
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.ACTIVE
    assert retry.notes.filter(kind="recurring_period_paid").exists()


def test_a_retrys_decline_with_no_try_of_the_period_paid_still_stops_it(
    primary, recurring, lost, monkeypatch
):
    retry = rerun_unknown(primary, recurring)
    monkeypatch.setattr(SandboxPaymentsAdapter, "retrieve_by_key", declined_lookup)

    services.payments_reconcile_pending()

    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED
    assert recurring.last_payment_id == retry.pk
    assert not retry.notes.filter(kind="recurring_period_paid").exists()


def test_a_retry_declined_at_the_run_after_the_period_was_paid_keeps_it(
    primary, recurring, lost, monkeypatch, django_capture_on_commit_callbacks
):
    # While the run's retry waits for the gateway, which declines it, the
    # gateway reports the first try paid.
    _card_declines(recurring)
    charge = SandboxPaymentsAdapter.charge_saved

    def paid_meanwhile(adapter, request):
        gateway_says(django_capture_on_commit_callbacks, "payment.captured", "ch_lost")
        return charge(adapter, request)

    monkeypatch.setattr(SandboxPaymentsAdapter, "charge_saved", paid_meanwhile)

    assert recurring_charges_report().declined == 1

    _, retry = payments_of(recurring)
    assert retry.status == PaymentStatus.FAILED
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.ACTIVE
    assert retry.notes.filter(kind="recurring_period_paid").exists()
