"""pay41: the recurring run's orphan sweep judges a payment's age by one
clock, the database's. A run killed between its slot's claim and the gateway
call leaves a pending payment; the sweep fails it and gives its slot back
once it is older than PAYMENTS_RECONCILE_AFTER_MINUTES. Its age was its
``updated_at`` (this machine's clock, ``auto_now``) against the database's
time: a worker behind by more than that had its live charge swept while it
was being sent, and a worker ahead left its orphan unswept for as long as it
was ahead."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db.models import F

from integrations.testing.clocks import machine_clock, shared_by_machines
from payments.models import Payment, PaymentStatus, RecurringCharge
from payments.services import recurring as methods_recurring
from payments.services.recurring import recurring_charges_report
from tests.payments.recurring_setup import (
    charges,
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _server_database():
    if not shared_by_machines():
        pytest.skip("needs a server database: SQLite's clock is this machine's")


def _skew() -> int:
    """Seconds a broken machine's clock is off: beyond the sweep's wait."""
    return (settings.PAYMENTS_RECONCILE_AFTER_MINUTES + 10) * 60


class _Killed(BaseException):
    """The worker killed mid-run (SIGKILL, its timeout): no handler runs."""


def test_a_live_charge_of_a_worker_behind_is_not_swept_as_an_orphan(
    primary, recurring, monkeypatch
):
    send = methods_recurring.saved_method_send
    sweeps = []

    def another_run_meanwhile(payment, *args, **kwargs):
        # A run on a machine whose clock is right, while this one's charge
        # is between its claim and its gateway call.
        with machine_clock(0):
            sweeps.append(recurring_charges_report())
        return send(Payment.objects.get(pk=payment.pk), *args, **kwargs)

    monkeypatch.setattr(methods_recurring, "saved_method_send", another_run_meanwhile)

    with machine_clock(-_skew()):
        run = recurring_charges_report()

    assert run.charged == 1
    assert sweeps[0].charged == 0
    (payment,) = payments_of(recurring)
    assert payment.status == PaymentStatus.CAPTURED, payment.failure_code
    assert charges(primary) == 1
    recurring.refresh_from_db()
    assert recurring.next_run_at > payment.created_at


def _killed_claim(recurring: RecurringCharge, monkeypatch, seconds: int) -> Payment:
    """A run on a machine ``seconds`` ahead, killed between its claim and
    the gateway call: its payment pending, its slot moved on."""

    def killed(*args, **kwargs):
        raise _Killed

    monkeypatch.setattr(methods_recurring, "saved_method_send", killed)
    # Killed before the run's own release of the slot, too.
    monkeypatch.setattr(methods_recurring, "_slot_release", killed)
    with machine_clock(seconds), pytest.raises(_Killed):
        recurring_charges_report()
    monkeypatch.undo()
    (payment,) = payments_of(recurring)
    assert payment.status == PaymentStatus.PENDING
    return payment


def _time_passes(payment: Payment, minutes: int) -> None:
    """``minutes`` go by for ``payment``'s stamps (the database's clock
    cannot be moved: its stamps are, all by the same)."""
    gone = timedelta(minutes=minutes)
    Payment.objects.filter(pk=payment.pk).update(
        created_at=F("created_at") - gone, updated_at=F("updated_at") - gone
    )


def test_the_orphan_of_a_worker_ahead_is_swept_once_old_by_the_databases_clock(
    primary, recurring, monkeypatch
):
    orphan = _killed_claim(recurring, monkeypatch, _skew())
    # A release never ran: the kill was before it (a SIGKILL).
    recurring.refresh_from_db()
    slot = orphan.metadata["recurring_slot"]
    assert recurring.next_run_at.isoformat() != slot
    _time_passes(orphan, settings.PAYMENTS_RECONCILE_AFTER_MINUTES + 1)

    run = recurring_charges_report()

    orphan.refresh_from_db()
    assert (orphan.status, orphan.failure_code) == (PaymentStatus.FAILED, "not_sent")
    assert run.charged == 1
    assert charges(primary) == 1


def test_a_young_orphan_is_left_whatever_the_sweepers_clock(
    primary, recurring, monkeypatch
):
    orphan = _killed_claim(recurring, monkeypatch, 0)
    _time_passes(orphan, settings.PAYMENTS_RECONCILE_AFTER_MINUTES - 5)

    with machine_clock(_skew()):
        run = recurring_charges_report()

    orphan.refresh_from_db()
    assert orphan.status == PaymentStatus.PENDING
    assert (run.charged, charges(primary)) == (0, 0)
