"""Two tries of one period, both failed as never charged, reported paid by
the gateway at the same moment (the customer cancelled meanwhile, so no slot
is taken back to order them): each must not read the other as still failed,
or the period charged twice is never reviewed."""

import time

import pytest

from payments.models import Payment, PaymentStatus, RecurringCharge, RecurringStatus
from tests.payments.recurring_setup import (
    failed_as_never_charged,
    found_never_charged,
    in_thread,
    pause_period_check,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
    reported_paid,
    rerun_unknown,
    waiting_on_a_lock,
)


def _cancelled_with_two_never_charged_tries(primary, recurring) -> list[Payment]:
    first = failed_as_never_charged(primary, recurring, "ch_first")
    second = rerun_unknown(primary, recurring)
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        status=RecurringStatus.CANCELLED
    )
    return [first, found_never_charged(primary, second, "ch_second")]


@pytest.mark.django_db(transaction=True)
def test_two_never_charged_tries_reported_paid_together_are_reviewed(
    primary, recurring, monkeypatch
):
    first, second = _cancelled_with_two_never_charged_tries(primary, recurring)
    # The first webhook pauses in its transaction right after reading the
    # period's other tries; the second is reported meanwhile.
    read, go = pause_period_check(monkeypatch, only=first)
    errors: list = []
    one = in_thread(lambda: reported_paid("ch_first"), errors)
    assert read.wait(10)
    two = in_thread(lambda: reported_paid("ch_second"), errors)
    deadline = time.monotonic() + 5
    while two.is_alive() and not waiting_on_a_lock():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    go.set()
    one.join(15)
    two.join(15)

    assert not errors, errors
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (PaymentStatus.CAPTURED,) * 2
    noted = Payment.objects.filter(
        pk__in=(first.pk, second.pk), notes__kind="recurring_charged_twice"
    )
    assert noted.count() == 1
