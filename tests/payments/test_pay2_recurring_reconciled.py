"""A recurring slot's payment that came back unknown and is later ended
failed with nothing charged (reconciliation: the gateway has no such charge;
staff: settled by hand as failed) has its slot given back: the next run
charges that period again, under a new payment and gateway key, never twice.
A decline the gateway reports stays a decline: that period is not charged
again."""

from datetime import timedelta

import pytest
from django.utils import timezone

from payments import services
from payments.models import PaymentStatus, RecurringCharge, RecurringStatus
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.services.recurring import recurring_charges_report
from tests.payments.recurring_setup import (
    charges,
    declined_lookup,
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
    unknown_run,
)

pytestmark = pytest.mark.django_db


def test_a_slot_reconciled_as_never_charged_is_charged_again(primary, recurring):
    slot = recurring.next_run_at
    lost = unknown_run(primary, recurring)

    services.payments_reconcile_pending()
    lost.refresh_from_db()
    assert (lost.status, lost.failure_code) == ("failed", "not_found_at_provider")

    run = recurring_charges_report()

    assert (run.charged, run.declined) == (1, 0)
    lost.refresh_from_db()
    first, again = payments_of(recurring)
    assert first.pk == lost.pk and first.idempotency_key is None
    assert (again.status, again.amount_captured) == (PaymentStatus.CAPTURED, 1_500)
    assert again.order_id == lost.order_id  # the same period
    assert charges(primary) == 1
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.ACTIVE
    assert recurring.last_payment_id == again.pk
    assert recurring.next_run_at > slot
    # The period is charged once: another run finds nothing due.
    assert recurring_charges_report().charged == 0
    assert charges(primary) == 1


def test_a_slot_settled_by_staff_as_failed_is_charged_again(primary, recurring):
    lost = unknown_run(primary, recurring)

    services.payment_settle_by_hand(
        payment=lost,
        outcome="failed",
        provider_reference="",
        note="nothing in the gateway's dashboard",
        actor="staff",
    )

    assert recurring_charges_report().charged == 1
    statuses = [p.status for p in payments_of(recurring)]
    assert statuses == [PaymentStatus.FAILED, PaymentStatus.CAPTURED]
    assert charges(primary) == 1


def test_a_decline_found_by_reconciliation_is_not_charged_again(
    primary, recurring, monkeypatch
):
    slot = recurring.next_run_at
    lost = unknown_run(primary, recurring)

    monkeypatch.setattr(SandboxPaymentsAdapter, "retrieve_by_key", declined_lookup)
    services.payments_reconcile_pending()
    monkeypatch.undo()
    lost.refresh_from_db()
    assert lost.status == PaymentStatus.FAILED

    run = recurring_charges_report()

    assert run.charged == 0
    assert [p.pk for p in payments_of(recurring)] == [lost.pk]
    assert charges(primary) == 0
    recurring.refresh_from_db()
    assert recurring.next_run_at > slot


def test_a_slot_the_schedule_has_passed_since_is_left_to_staff_with_a_note(
    primary, recurring
):
    lost = unknown_run(primary, recurring)
    # The next period ran meanwhile (a gateway unreachable for a whole one).
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        next_run_at=timezone.now() + timedelta(days=60)
    )

    services.payments_reconcile_pending()

    lost.refresh_from_db()
    assert lost.status == PaymentStatus.FAILED
    assert lost.notes.filter(kind="recurring_slot_missed").exists()
    assert recurring_charges_report().charged == 0


def test_a_cancelled_recurring_charge_is_not_charged_again(primary, recurring):
    lost = unknown_run(primary, recurring)
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        status=RecurringStatus.CANCELLED
    )

    services.payments_reconcile_pending()
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        status=RecurringStatus.ACTIVE
    )

    assert recurring_charges_report().charged == 0
    assert [p.pk for p in payments_of(recurring)] == [lost.pk]
