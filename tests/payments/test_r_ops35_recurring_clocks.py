"""r-ops35: two more reads of recurring charges compared a database stamp
with this machine's clock (ops35 made a create, a resume and a move read the
card network's wait at the database's time):

- the run (``recurring_charges_report``, no ``now`` given: the job and the
  command) judged the card's wait at the worker's time; a worker whose clock
  runs ahead charged a card whose wait the database says is still on (docs
  said the run judges it at the database's time);
- a resume's retry cap (``_retries_check``) counted the charge's declines
  made since this machine's now minus 30 days, though a card's charge is
  created at the database's time: a web machine ahead left out a decline
  still inside the window and let one retry more go out than networks allow.
"""

from datetime import timedelta

import pytest

from integrations.clock import database_now
from integrations.testing.clocks import machine_clock, shared_by_machines
from payments.models import Payment, RecurringCharge, RecurringStatus
from payments.services import recurring_manage
from payments.services.recurring import recurring_charges_report
from tests.payments.recurring_setup import (
    charges,
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
)
from tests.payments.test_pay23_retry_limit import declines
from tests.payments.test_revpay26_card_rule import declined_run

pytestmark = pytest.mark.django_db

ADVICE = "retry_after_10_days"
WAIT = timedelta(days=10)
SKEW = 120  # seconds this machine's clock is ahead of the database's


@pytest.fixture(autouse=True)
def _server_database():
    if not shared_by_machines():
        pytest.skip("needs a server database: SQLite's clock is this machine's")


def test_the_run_holds_a_charge_while_the_wait_is_on_by_the_databases_clock(
    monkeypatch, primary, recurring
):
    declined_run(monkeypatch, "insufficient_funds", ADVICE)
    (declined,) = payments_of(recurring)
    # A minute of the wait left by the database's clock.
    Payment.objects.filter(pk=declined.pk).update(
        failure_learnt_at=database_now() - WAIT + timedelta(seconds=60)
    )
    declined.refresh_from_db()
    other = RecurringCharge.objects.create(
        saved_method=recurring.saved_method,
        amount=700,
        currency="EUR",
        interval="month",
        next_run_at=database_now() - timedelta(minutes=1),
    )
    before = charges(primary)

    with machine_clock(SKEW):
        run = recurring_charges_report()

    assert (run.charged, len(run.held)) == (0, 1), run.as_result()
    assert charges(primary) == before
    other.refresh_from_db()
    assert other.next_run_at == declined.failure_learnt_at + WAIT


def test_a_resume_counts_a_decline_inside_the_window_by_the_databases_clock(
    api, primary, recurring, settings
):
    settings.RECURRING_SOFT_DECLINE_RETRY_LIMIT = 2
    declines(api, recurring, 2)  # the first decline and two retries: at the cap
    first = payments_of(recurring)[0]
    # Made 30 days less a minute ago by the database: still in the window.
    Payment.objects.filter(pk=first.pk).update(
        created_at=database_now() - recurring_manage.RETRY_WINDOW + timedelta(minutes=1)
    )
    recurring.refresh_from_db()

    with machine_clock(SKEW), pytest.raises(recurring_manage.RetriesExhausted):
        recurring_manage.recurring_resume(recurring=recurring)

    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED
