"""pay40: the recurring run's due pick, and the slot a resume (or a new
charge) writes, are decided at the database's time, as the card network's
wait is (``integrations.clock``). A worker or web machine whose clock is
off the database's by a couple of minutes used to charge a schedule before
its date, pass over one already due, or write a restarted slot that the
next run did not find due."""

from datetime import timedelta

import pytest

from integrations.clock import database_now
from integrations.testing.clocks import machine_clock, shared_by_machines
from payments.models import RecurringCharge, RecurringStatus
from payments.services import recurring_manage
from payments.services.recurring import recurring_charges_report
from tests.payments.recurring_setup import (
    charges,
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
)

pytestmark = pytest.mark.django_db

SKEW = 120  # seconds this machine's clock is off the database's


@pytest.fixture(autouse=True)
def _server_database():
    if not shared_by_machines():
        pytest.skip("needs a server database: SQLite's clock is this machine's")


def _due_in(recurring: RecurringCharge, seconds: int) -> None:
    """``recurring`` due ``seconds`` from now by the database's clock."""
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        next_run_at=database_now() + timedelta(seconds=seconds)
    )


def test_a_worker_ahead_does_not_charge_a_slot_before_its_date(primary, recurring):
    _due_in(recurring, 60)

    with machine_clock(SKEW):
        run = recurring_charges_report()

    assert (run.charged, charges(primary)) == (0, 0)
    assert payments_of(recurring) == []


def test_a_worker_behind_charges_a_slot_already_due(primary, recurring):
    _due_in(recurring, -60)

    with machine_clock(-SKEW):
        run = recurring_charges_report()

    assert (run.charged, charges(primary)) == (1, 1)


def _failed(recurring: RecurringCharge) -> None:
    # Stopped (as for a decline), its date a period away: a resume restarts
    # it at once, its declined period unpaid.
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        status=RecurringStatus.FAILED,
        next_run_at=database_now() + timedelta(days=20),
    )


def test_a_resume_on_a_machine_ahead_is_charged_by_the_next_run(primary, recurring):
    _failed(recurring)

    with machine_clock(SKEW):
        resumed = recurring_manage.recurring_resume(recurring=recurring)

    # Restarted at the database's now: the next run, on any machine, charges it.
    assert resumed.next_run_at <= database_now()
    assert recurring_charges_report().charged == 1


def test_a_paused_charge_resumed_behind_restarts_a_date_passed(primary, recurring):
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        status=RecurringStatus.PAUSED,
        next_run_at=database_now() - timedelta(seconds=60),
    )
    before = database_now()

    with machine_clock(-SKEW):
        resumed = recurring_manage.recurring_resume(recurring=recurring)

    # Its date passed by the database's clock: the period begins now.
    assert resumed.next_run_at >= before
    assert resumed.next_run_at <= database_now()


def test_a_paused_charge_resumed_ahead_keeps_a_date_still_ahead(primary, recurring):
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        status=RecurringStatus.PAUSED,
        next_run_at=database_now() + timedelta(seconds=60),
    )
    recurring.refresh_from_db()
    slot = recurring.next_run_at

    with machine_clock(SKEW):
        resumed = recurring_manage.recurring_resume(recurring=recurring)

    assert resumed.next_run_at == slot


def test_a_new_charge_made_on_a_machine_ahead_is_due_at_once(primary, recurring):
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        status=RecurringStatus.CANCELLED
    )

    with machine_clock(SKEW):
        made = recurring_manage.recurring_create(
            customer_reference="cus_1",
            method_id=recurring.saved_method.public_id,
            amount=900,
            currency="EUR",
            interval="month",
        )

    assert made.next_run_at <= database_now()
    assert recurring_charges_report().charged == 1


def test_a_first_run_a_minute_ago_by_the_database_is_not_in_the_past(
    primary, recurring
):
    # Within the tolerance by the database's clock; 7 minutes behind a
    # machine 6 minutes ahead.
    with machine_clock(6 * 60):
        made = recurring_manage.recurring_create(
            customer_reference="cus_1",
            method_id=recurring.saved_method.public_id,
            amount=900,
            currency="EUR",
            interval="month",
            first_run_at=database_now() - timedelta(seconds=60),
        )

    assert made.status == RecurringStatus.ACTIVE
