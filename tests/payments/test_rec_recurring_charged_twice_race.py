"""The late payment's webhook and the retry's reconciliation at the same
moment: the webhook reads the retry still open (its change not committed)
and only notes it; the retry, found paid, waits for the late payment's row
before reading it, so it sees it paid and puts it in review: the period
charged twice is never missed, and reviewed once."""

import time

import pytest

from payments import services
from payments.models import PaymentStatus
from payments.providers.sandbox import SandboxPaymentsAdapter
from tests.payments.recurring_setup import (
    failed_as_never_charged,
    in_thread,
    paid_lookup,
    pause_period_check,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
    reported_paid,
    rerun_unknown,
    waiting_on_a_lock,
)


@pytest.mark.django_db(transaction=True)
def test_a_retry_found_paid_while_the_late_payment_is_reported_is_reviewed_once(
    primary,
    recurring,
    monkeypatch,
):
    lost = failed_as_never_charged(primary, recurring, "ch_lost")
    retry = rerun_unknown(primary, recurring)
    monkeypatch.setattr(SandboxPaymentsAdapter, "retrieve_by_key", paid_lookup)
    # The webhook pauses in its transaction right after reading the retry.
    read, go = pause_period_check(monkeypatch)
    errors: list = []
    hook = in_thread(lambda: reported_paid("ch_lost"), errors)
    assert read.wait(10)
    # Meanwhile reconciliation finds the retry paid; it must wait for the
    # late payment's row (the webhook holds it) before judging the period.
    reconcile = in_thread(lambda: services.payment_reconcile(payment=retry), errors)
    deadline = time.monotonic() + 10
    while not waiting_on_a_lock():
        assert reconcile.is_alive() and time.monotonic() < deadline
        time.sleep(0.02)
    go.set()
    hook.join(15)
    reconcile.join(15)

    assert not errors, errors
    lost.refresh_from_db()
    retry.refresh_from_db()
    assert (lost.status, retry.status) == (PaymentStatus.CAPTURED,) * 2
    assert lost.notes.filter(kind="recurring_rerun_open").exists()
    (note,) = lost.notes.filter(kind="recurring_charged_twice")
    assert retry.public_id in note.title
