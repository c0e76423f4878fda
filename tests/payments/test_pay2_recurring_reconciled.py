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
from payments.models import (
    Payment,
    PaymentStatus,
    RecurringCharge,
    RecurringStatus,
    SandboxCharge,
)
from payments.providers.base import PaymentResult, ProviderStatus
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.services.methods import recurring_charges_report

pytestmark = pytest.mark.django_db


@pytest.fixture
def recurring(primary) -> RecurringCharge:
    method = services.payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m1"
    )
    return RecurringCharge.objects.create(
        saved_method=method,
        amount=1_500,
        currency="EUR",
        interval="month",
        next_run_at=timezone.now() - timedelta(minutes=1),
    )


def _unknown_run(primary, recurring: RecurringCharge) -> Payment:
    """The slot's charge answered 500 (the gateway may have charged): unknown,
    and the slot moved on."""
    primary.settings = {"error_rate": 1.0}
    primary.save()
    assert recurring_charges_report().unknown == 1
    primary.settings = {}
    primary.save()
    (payment,) = _payments_of(recurring)
    assert payment.status == PaymentStatus.UNKNOWN
    return payment


def _payments_of(recurring: RecurringCharge) -> list[Payment]:
    return list(
        Payment.objects.filter(metadata__recurring_charge=recurring.public_id).order_by(
            "pk"
        )
    )


def _charges(primary) -> int:
    return SandboxCharge.objects.filter(account=primary, kind="payment").count()


def test_a_slot_reconciled_as_never_charged_is_charged_again(primary, recurring):
    slot = recurring.next_run_at
    lost = _unknown_run(primary, recurring)

    services.payments_reconcile_pending()
    lost.refresh_from_db()
    assert (lost.status, lost.failure_code) == ("failed", "not_found_at_provider")

    run = recurring_charges_report()

    assert (run.charged, run.declined) == (1, 0)
    lost.refresh_from_db()
    first, again = _payments_of(recurring)
    assert first.pk == lost.pk and first.idempotency_key is None
    assert (again.status, again.amount_captured) == (PaymentStatus.CAPTURED, 1_500)
    assert again.order_id == lost.order_id  # the same period
    assert _charges(primary) == 1
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.ACTIVE
    assert recurring.last_payment_id == again.pk
    assert recurring.next_run_at > slot
    # The period is charged once: another run finds nothing due.
    assert recurring_charges_report().charged == 0
    assert _charges(primary) == 1


def test_a_slot_settled_by_staff_as_failed_is_charged_again(primary, recurring):
    lost = _unknown_run(primary, recurring)

    services.payment_settle_by_hand(
        payment=lost,
        outcome="failed",
        provider_reference="",
        note="nothing in the gateway's dashboard",
        actor="staff",
    )

    assert recurring_charges_report().charged == 1
    statuses = [p.status for p in _payments_of(recurring)]
    assert statuses == [PaymentStatus.FAILED, PaymentStatus.CAPTURED]
    assert _charges(primary) == 1


def test_a_decline_found_by_reconciliation_is_not_charged_again(
    primary, recurring, monkeypatch
):
    slot = recurring.next_run_at
    lost = _unknown_run(primary, recurring)

    def declined(self, *, idempotency_key, lookup):
        return PaymentResult(
            status=ProviderStatus.FAILED,
            provider_reference="ch_sbx_declined",
            currency="EUR",
            raw_status="declined",
        )

    monkeypatch.setattr(SandboxPaymentsAdapter, "retrieve_by_key", declined)
    services.payments_reconcile_pending()
    monkeypatch.undo()
    lost.refresh_from_db()
    assert lost.status == PaymentStatus.FAILED

    run = recurring_charges_report()

    assert run.charged == 0
    assert [p.pk for p in _payments_of(recurring)] == [lost.pk]
    assert _charges(primary) == 0
    recurring.refresh_from_db()
    assert recurring.next_run_at > slot


def test_a_slot_the_schedule_has_passed_since_is_left_to_staff_with_a_note(
    primary, recurring
):
    lost = _unknown_run(primary, recurring)
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
    lost = _unknown_run(primary, recurring)
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        status=RecurringStatus.CANCELLED
    )

    services.payments_reconcile_pending()
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        status=RecurringStatus.ACTIVE
    )

    assert recurring_charges_report().charged == 0
    assert [p.pk for p in _payments_of(recurring)] == [lost.pk]
