"""A late "paid" webhook for a recurring slot's payment (failed as never
charged, its slot given back) handled while a recurring run claims that very
slot: both finish (no deadlock between the payment row and the recurring
row, taken in opposite orders before), and the period is charged once or
goes to review, never silently charged twice. Nor is it charged again when
the run that claimed it again was killed before its call: the orphan's
release does not give back a slot a late payment paid."""

import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.errors import NotProcessed
from integrations.models import WebhookEvent
from payments.models import (
    Payment,
    PaymentStatus,
    RecurringCharge,
    ReviewState,
    SandboxCharge,
)
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.services import recurring as methods_recurring
from payments.services.recurring import recurring_charges_report
from tests.payments.recurring_setup import (
    gateway_post,
    gateway_says,
    in_thread,
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
    waiting_on_a_lock,
)
from tests.payments.test_pay5_recurring_paid_late import lost  # noqa: F401 (fixture)


@pytest.mark.django_db(transaction=True)
def test_a_late_paid_webhook_during_the_run_neither_deadlocks_nor_charges_twice(
    primary,
    recurring,
    lost,  # noqa: F811 (fixture)
    monkeypatch,
):
    answers: list = []

    def paid() -> None:
        # The intake handles the event inline once stored.
        answers.append(gateway_post("payment.captured", "ch_lost").status_code)

    # The run pauses inside its claim (the recurring row claimed) while the
    # webhook is handled.
    claimed, go = threading.Event(), threading.Event()
    real = methods_recurring.nothing_charged
    paused = []

    def pausing(payment: Payment) -> bool:
        if not paused and threading.current_thread() is not main:
            paused.append(payment.pk)
            claimed.set()
            go.wait(10)
        return real(payment)

    main = threading.current_thread()
    monkeypatch.setattr(methods_recurring, "nothing_charged", pausing)
    errors: list = []
    run_done, hook_done = threading.Event(), threading.Event()
    runs: list = []
    run = in_thread(lambda: runs.append(recurring_charges_report()), errors, run_done)
    assert claimed.wait(10)
    hook = in_thread(paid, errors, hook_done)
    deadline = time.monotonic() + 5
    while not hook_done.is_set() and not waiting_on_a_lock():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    go.set()
    run.join(15)
    hook.join(15)

    assert not errors, errors
    assert answers == [200]
    event = WebhookEvent.objects.get(event_type="payment.captured")
    assert event.status == "processed", (event.status, event.last_error)
    lost.refresh_from_db()
    assert lost.status == PaymentStatus.CAPTURED
    others = [p for p in payments_of(recurring) if p.pk != lost.pk]
    # Charged again by the run: the late payment is in review for a refund.
    if others:
        assert lost.review_state == ReviewState.PENDING
        assert lost.notes.filter(kind="recurring_charged_twice").exists()
    else:
        assert runs[0].charged == 0


@pytest.mark.django_db
def test_an_orphan_of_a_period_paid_late_does_not_give_its_slot_back(
    primary,
    recurring,
    lost,  # noqa: F811 (fixture)
    settings,
    django_capture_on_commit_callbacks,
):
    # The next run claimed the slot again and was killed before its call:
    # the slot moved on, the key on its new payment, pending.
    slot = recurring.next_run_at
    orphan = _orphan_after(lost, recurring, slot, settings)
    gateway_says(django_capture_on_commit_callbacks, "payment.captured", "ch_lost")
    lost.refresh_from_db()
    assert lost.status == PaymentStatus.CAPTURED

    # The orphan is released (nothing was sent for it), but the period is
    # paid by the late payment: its slot is not given back to be charged.
    run = recurring_charges_report()

    orphan.refresh_from_db()
    assert orphan.status == PaymentStatus.FAILED
    assert run.charged == 0
    assert len(payments_of(recurring)) == 2
    assert not SandboxCharge.objects.filter(account=primary, kind="payment").exists()


def _orphan_after(paid_late, charge, slot, settings) -> Payment:
    following = slot + timedelta(days=31)
    RecurringCharge.objects.filter(pk=charge.pk).update(next_run_at=following)
    key = paid_late.idempotency_key
    Payment.objects.filter(pk=paid_late.pk).update(idempotency_key=None)
    orphan = Payment.objects.create(
        order_id=paid_late.order_id,
        amount=charge.amount,
        currency="EUR",
        capture_requested=True,
        customer_reference="cus_1",
        metadata={"recurring_charge": charge.public_id},
        idempotency_key=key,
    )
    stale = settings.PAYMENTS_RECONCILE_AFTER_MINUTES + 5
    Payment.objects.filter(pk=orphan.pk).update(
        # Both stamps: the sweeps age it by its created_at (pay41).
        created_at=timezone.now() - timedelta(minutes=stale),
        updated_at=timezone.now() - timedelta(minutes=stale),
    )
    return orphan


@pytest.mark.django_db
def test_a_late_payment_reported_while_the_rerun_fails_keeps_the_slot(
    primary,
    recurring,
    lost,  # noqa: F811 (fixture)
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    # The run charges the slot again; while it calls the gateway, which is
    # unreachable, the gateway reports the first payment paid after all.
    def unreachable(adapter, request):
        with django_capture_on_commit_callbacks(execute=True):
            gateway_post("payment.captured", "ch_lost")
        raise NotProcessed("gateway unreachable", code="connection_error")

    monkeypatch.setattr(SandboxPaymentsAdapter, "charge_saved", unreachable)
    assert recurring_charges_report().retry == 1
    lost.refresh_from_db()
    assert lost.status == PaymentStatus.CAPTURED
    monkeypatch.undo()

    # The period is paid: the slot was not given back to be charged again.
    assert recurring_charges_report().charged == 0
    assert not SandboxCharge.objects.filter(account=primary, kind="payment").exists()
