"""pay31: a recurring charge the run holds for its card network's "retry
after" advice (its due slot moved to the wait's end, nothing sent) is in
the run's report: counted and listed with the time it waits until, in the
service's report, the scheduled task's result and the command's output."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from payments import tasks
from payments.models import RecurringCharge
from payments.services.recurring import recurring_charges_report
from tests.payments.recurring_setup import (
    charges,
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
)
from tests.payments.test_revpay26_card_rule import declined_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def held(monkeypatch, primary, recurring) -> RecurringCharge:
    """Another active charge on a card a network advised to wait 4 days for."""
    declined_run(monkeypatch, "insufficient_funds", "retry_after_4_days")
    (declined,) = payments_of(recurring)
    other = RecurringCharge.objects.create(
        saved_method=recurring.saved_method,
        amount=700,
        currency="EUR",
        interval="month",
        next_run_at=timezone.now() - timedelta(minutes=1),
    )
    other.until = declined.failure_learnt_at + timedelta(days=4)
    return other


def _line(charge: RecurringCharge) -> str:
    charge.refresh_from_db()
    return f"{charge.public_id} until {charge.next_run_at.isoformat()}"


def test_the_report_counts_and_lists_a_charge_held_for_the_advice(held, primary):
    before = charges(primary)

    report = recurring_charges_report()

    assert (report.charged, report.declined, charges(primary)) == (0, 0, before)
    assert report.held == [_line(held)]
    held.refresh_from_db()
    assert held.next_run_at == held.until


def test_the_task_result_carries_the_held_charges(held):
    result = tasks.run_recurring_charges()

    assert result["held"] == 1
    assert result["held_charges"] == [_line(held)]


def test_the_command_says_which_charges_are_held(held):
    out = StringIO()

    call_command("run_recurring_charges", stdout=out)

    text = out.getvalue()
    assert "Charged 0 recurring charge(s)" in text
    assert f"1 held for the card network's advice: {_line(held)}" in text


def test_a_held_charge_is_reported_once(held):
    assert len(recurring_charges_report().held) == 1
    # Its slot moved to the wait's end: the next run has nothing to hold.
    assert recurring_charges_report().held == []
