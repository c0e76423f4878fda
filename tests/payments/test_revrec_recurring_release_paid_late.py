"""A run killed after claiming a period's retry (an orphan: pending, never
sent) is released by the next run, which gives its slot back and charges it
again, unless the period was paid meanwhile. The period's first try reported
paid at that same moment must be waited for, not read as still failed: else
the slot is given back and the period charged a second time."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from payments.models import Payment, PaymentStatus, RecurringCharge
from payments.services.recurring import recurring_charges_report
from payments.services.slots import next_run, slot_key
from tests.payments.recurring_setup import (
    charges,
    failed_as_never_charged,
    in_thread,
    pause_period_check,
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
    reported_paid,
    waiting_on_a_lock,
)


def _orphaned_retry(recurring: RecurringCharge, lost: Payment, settings) -> Payment:
    """What a run killed between claiming the slot again and the gateway
    call leaves: the first try's key freed, the retry pending, never sent."""
    recurring.refresh_from_db()
    slot = recurring.next_run_at
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        next_run_at=next_run(slot, recurring.interval, recurring.interval_count)
    )
    Payment.objects.filter(pk=lost.pk).update(idempotency_key=None)
    retry = Payment.objects.create(
        order_id=lost.order_id,
        amount=recurring.amount,
        currency="EUR",
        capture_requested=True,
        customer_reference="cus_1",
        metadata={"recurring_charge": recurring.public_id},
        idempotency_key=slot_key(recurring, slot),
    )
    stale = settings.PAYMENTS_RECONCILE_AFTER_MINUTES + 5
    Payment.objects.filter(pk=retry.pk).update(
        # Both stamps: the sweeps age it by its created_at (pay41).
        created_at=timezone.now() - timedelta(minutes=stale),
        updated_at=timezone.now() - timedelta(minutes=stale),
    )
    return retry


@pytest.mark.django_db(transaction=True)
def test_a_released_retry_waits_for_the_late_payment_and_charges_nothing(
    primary, recurring, monkeypatch, settings
):
    lost = failed_as_never_charged(primary, recurring, "ch_lost")
    retry = _orphaned_retry(recurring, lost, settings)
    # The webhook pauses in its transaction right after reading the retry.
    read, go = pause_period_check(monkeypatch)
    errors: list = []
    hook = in_thread(lambda: reported_paid("ch_lost"), errors)
    assert read.wait(10)
    run = in_thread(recurring_charges_report, errors)
    deadline = time.monotonic() + 10
    while run.is_alive() and not waiting_on_a_lock():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    go.set()
    hook.join(15)
    run.join(15)

    assert not errors, errors
    lost.refresh_from_db()
    retry.refresh_from_db()
    assert lost.status == PaymentStatus.CAPTURED
    assert (retry.status, retry.failure_code) == (PaymentStatus.FAILED, "not_sent")
    # Paid once, by the late payment: the slot was not charged again.
    assert len(payments_of(recurring)) == 2
    assert charges(primary) == 0
