"""A recurring slot's payment ended failed after its run follows the run's
rule: a decline reconciliation learns stops the recurring charge as a decline
during the run does; and failing the payment and giving its slot back are one
transaction (a kill between the two writes loses no period)."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from payments import services
from payments.models import Payment, PaymentStatus, RecurringCharge, RecurringStatus
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.services import methods
from payments.services import recurring as methods_recurring
from payments.services.recurring import recurring_charges_report
from tests.payments.conftest import webhook_body, webhook_headers
from tests.payments.recurring_setup import (
    charges,
    declined_lookup,
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
    unknown_run,
)

pytestmark = pytest.mark.django_db


def test_a_decline_found_by_reconciliation_stops_the_recurring_charge(
    primary, recurring, monkeypatch
):
    lost = unknown_run(primary, recurring)
    monkeypatch.setattr(SandboxPaymentsAdapter, "retrieve_by_key", declined_lookup)

    services.payments_reconcile_pending()

    lost.refresh_from_db()
    assert lost.status == PaymentStatus.FAILED
    recurring.refresh_from_db()
    # As a decline during the run: the recurring charge needs a new method.
    assert recurring.status == RecurringStatus.FAILED
    assert recurring.last_payment_id == lost.pk
    # Its next period is not charged to the declined method.
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        next_run_at=timezone.now() - timedelta(minutes=1)
    )
    assert recurring_charges_report().charged == 0
    assert charges(primary) == 0


def test_a_decline_found_after_a_later_period_was_charged_is_noted_for_staff(
    primary, recurring, monkeypatch
):
    lost = unknown_run(primary, recurring)
    # The next period ran meanwhile and was charged.
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        next_run_at=timezone.now() - timedelta(minutes=1)
    )
    assert recurring_charges_report().charged == 1
    monkeypatch.setattr(SandboxPaymentsAdapter, "retrieve_by_key", declined_lookup)

    services.payment_reconcile(payment=lost)

    lost.refresh_from_db()
    assert lost.status == PaymentStatus.FAILED
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.ACTIVE
    assert lost.notes.filter(kind="recurring_slot_declined").exists()


def _boom(*args, **kwargs):
    raise RuntimeError("killed")


def test_a_kill_between_reconciliations_fail_and_give_back_loses_nothing(
    primary, recurring, monkeypatch
):
    lost = unknown_run(primary, recurring)
    monkeypatch.setattr(methods_recurring, "recurring_slot_give_back", _boom)

    with pytest.raises(RuntimeError):
        services.payments_reconcile_pending()

    lost.refresh_from_db()
    # Both writes or neither: still unknown, reconciled again later.
    assert lost.status == PaymentStatus.UNKNOWN
    monkeypatch.undo()
    services.payments_reconcile_pending()
    lost.refresh_from_db()
    assert (lost.status, lost.failure_code) == ("failed", "not_found_at_provider")
    assert recurring_charges_report().charged == 1
    assert charges(primary) == 1


def test_a_kill_between_staffs_fail_and_give_back_loses_nothing(
    primary, recurring, monkeypatch
):
    lost = unknown_run(primary, recurring)
    monkeypatch.setattr(methods_recurring, "recurring_slot_give_back", _boom)

    with pytest.raises(RuntimeError):
        services.payment_settle_by_hand(
            payment=lost,
            outcome="failed",
            provider_reference="",
            note="nothing in the dashboard",
            actor="staff",
        )

    lost.refresh_from_db()
    assert lost.status == PaymentStatus.UNKNOWN
    assert not lost.notes.filter(kind="settled_by_hand").exists()


def _orphan(recurring: RecurringCharge, settings) -> Payment:
    """What a run killed between its claim and the gateway call leaves: the
    slot moved on, its payment pending with no attempt, long ago."""
    slot = recurring.next_run_at
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        next_run_at=slot + timedelta(days=31)
    )
    payment = Payment.objects.create(
        order_id=f"{recurring.public_id}-{slot:%Y%m%d%H%M}",
        amount=recurring.amount,
        currency="EUR",
        capture_requested=True,
        customer_reference="cus_1",
        metadata={"recurring_charge": recurring.public_id},
        idempotency_key=f"recurring:{recurring.public_id}:{slot.isoformat()}",
    )
    stale = settings.PAYMENTS_RECONCILE_AFTER_MINUTES + 5
    Payment.objects.filter(pk=payment.pk).update(
        # Both stamps: the sweeps age it by its created_at (pay41).
        created_at=timezone.now() - timedelta(minutes=stale),
        updated_at=timezone.now() - timedelta(minutes=stale),
    )
    return payment


def test_a_kill_between_the_orphans_fail_and_slot_release_loses_nothing(
    primary, recurring, monkeypatch, settings
):
    orphan = _orphan(recurring, settings)
    monkeypatch.setattr(methods_recurring, "_slot_release", _boom)

    with pytest.raises(RuntimeError):
        recurring_charges_report()

    orphan.refresh_from_db()
    assert orphan.status == PaymentStatus.PENDING
    assert orphan.idempotency_key is not None
    monkeypatch.undo()
    # The killed sweep undid its touch with the rest: the next run releases it.
    Payment.objects.filter(pk=orphan.pk).update(
        # Both stamps: the sweeps age it by its created_at (pay41).
        created_at=timezone.now() - timedelta(days=1),
        updated_at=timezone.now() - timedelta(days=1),
    )
    assert recurring_charges_report().charged == 1
    orphan.refresh_from_db()
    assert orphan.status == PaymentStatus.FAILED
    assert charges(primary) == 1


def _stale(payment: Payment) -> None:
    Payment.objects.filter(pk=payment.pk).update(
        # Both stamps: the sweeps age it by its created_at (pay41).
        created_at=timezone.now() - timedelta(days=1),
        updated_at=timezone.now() - timedelta(days=1),
    )


def test_a_kill_between_the_runs_unavailable_fail_and_slot_release_loses_nothing(
    primary, recurring, monkeypatch
):
    slot = recurring.next_run_at
    primary.settings = {"outage": True}
    primary.save()
    monkeypatch.setattr(methods_recurring, "_slot_release", _boom)

    assert len(recurring_charges_report().errors) == 1

    (payment,) = payments_of(recurring)
    # Both writes or neither: not failed with its slot moved on.
    assert payment.status == PaymentStatus.PENDING
    monkeypatch.undo()
    primary.settings = {}
    primary.save()
    _stale(payment)
    services.payments_reconcile_pending()
    payment.refresh_from_db()
    assert (payment.status, payment.failure_code) == ("failed", "not_found_at_provider")
    recurring.refresh_from_db()
    assert recurring.next_run_at == slot  # given back
    assert recurring_charges_report().charged == 1
    assert charges(primary) == 1


def test_a_kill_between_the_runs_not_sent_fail_and_slot_release_loses_nothing(
    primary, recurring, monkeypatch
):
    monkeypatch.setattr(methods, "build_payment_request", _boom)
    monkeypatch.setattr(methods_recurring, "_slot_release", _boom)

    assert len(recurring_charges_report().errors) == 1

    (payment,) = payments_of(recurring)
    assert payment.status == PaymentStatus.PENDING
    monkeypatch.undo()
    _stale(payment)
    # The run's own sweep releases it and gives its slot back.
    assert recurring_charges_report().charged == 1
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.FAILED
    assert charges(primary) == 1


def test_a_cancel_during_the_run_is_not_undone_by_its_record(
    primary, recurring, monkeypatch
):
    send = methods_recurring.saved_method_send

    def cancelled_meanwhile(payment, *args, **kwargs):
        RecurringCharge.objects.filter(pk=recurring.pk).update(
            status=RecurringStatus.CANCELLED
        )
        return send(payment, *args, **kwargs)

    monkeypatch.setattr(methods_recurring, "saved_method_send", cancelled_meanwhile)

    assert recurring_charges_report().charged == 1

    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.CANCELLED
    assert recurring.runs == 1


def test_a_decline_the_gateways_webhook_reports_stops_the_recurring_charge(
    primary, recurring, django_capture_on_commit_callbacks
):
    lost = unknown_run(primary, recurring)
    Payment.objects.filter(pk=lost.pk).update(
        account=primary, provider_reference="ch_sbx_lost"
    )
    body = webhook_body("payment.failed", reference="ch_sbx_lost")

    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post(
            "/webhooks/sbx-primary/",
            data=body,
            content_type="application/json",
            **webhook_headers(body),
        )

    assert response.status_code == 200
    lost.refresh_from_db()
    assert lost.status == PaymentStatus.FAILED
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED
