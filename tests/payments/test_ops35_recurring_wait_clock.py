"""ops35: a new recurring charge on a card, and a resume (or a move) of one
a decline stopped, keep the card network's "retry after" wait
(``slots.advised_until``). The wait's end comes from database stamps (when
the decline was learnt), but these two read the advice still on by this
machine's clock: a web machine ahead missed a wait the database says is still
on, one behind honoured one already over. They now read it at the
database's time, as the run and a one-off charge do."""

from datetime import timedelta

import pytest

from integrations.clock import database_now
from integrations.testing.clocks import machine_clock, shared_by_machines
from payments.models import Payment, RecurringStatus
from payments.services import recurring_manage
from tests.payments.recurring_setup import (
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
)
from tests.payments.test_revpay26_card_rule import declined_run

pytestmark = pytest.mark.django_db

ADVICE = "retry_after_10_days"  # the longest wait a network advises
WAIT = timedelta(days=10)
SKEW = 120  # seconds this web machine's clock is off the database's


@pytest.fixture(autouse=True)
def _server_database():
    if not shared_by_machines():
        pytest.skip("needs a server database: SQLite's clock is this machine's")


def _declined_with_advice(monkeypatch, recurring, left: timedelta) -> Payment:
    """``recurring`` stopped by a decline advising the longest wait, which
    by the database's clock has ``left`` to run (negative: over)."""
    declined_run(monkeypatch, "insufficient_funds", ADVICE)
    (declined,) = payments_of(recurring)
    Payment.objects.filter(pk=declined.pk).update(
        failure_learnt_at=database_now() - WAIT + left
    )
    declined.refresh_from_db()
    return declined


def test_a_new_charge_keeps_a_wait_still_on_by_the_databases_clock(
    monkeypatch, primary, recurring
):
    declined = _declined_with_advice(monkeypatch, recurring, timedelta(seconds=60))
    until = declined.failure_learnt_at + WAIT
    # Half a minute from now by the database: inside the wait.
    first_run_at = database_now() + timedelta(seconds=30)

    with machine_clock(SKEW):
        made = recurring_manage.recurring_create(
            customer_reference="cus_1",
            method_id=recurring.saved_method.public_id,
            amount=900,
            currency="EUR",
            interval="month",
            first_run_at=first_run_at,
        )

    assert made.next_run_at == until


def test_a_resume_is_not_held_by_a_wait_over_by_the_databases_clock(
    monkeypatch, primary, recurring
):
    declined = _declined_with_advice(monkeypatch, recurring, timedelta(seconds=-60))
    over = declined.failure_learnt_at + WAIT
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED

    with machine_clock(-SKEW):
        resumed = recurring_manage.recurring_resume(recurring=recurring)

    # Restarted now (the database's now, pay40: as the run's due pick), not
    # at the end of a wait over.
    assert resumed.status == RecurringStatus.ACTIVE
    assert over < resumed.next_run_at <= database_now()
