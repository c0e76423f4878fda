"""pay28: a card network's "retry after N days" advice (Mastercard MAC
24-30) is about the card, not the one charge it declined. A new recurring
charge on that card is first due when the wait ends, and another recurring
charge already active on it is not charged before then: the run moves its
due slot to the wait's end (not a decline; nothing sent to the gateway)."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from payments.models import RecurringCharge, RecurringStatus
from payments.services.recurring import recurring_charges_report
from tests.payments.recurring_setup import (
    charges,
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
)
from tests.payments.test_revpay26_card_rule import declined_run, new_charge_on

pytestmark = pytest.mark.django_db


def _advised(monkeypatch, recurring) -> timezone.datetime:
    declined_run(monkeypatch, "insufficient_funds", "retry_after_4_days")
    (declined,) = payments_of(recurring)
    return declined.failure_learnt_at + timedelta(days=4)


def test_a_new_recurring_charge_on_the_card_waits_for_the_advice(
    api, monkeypatch, primary, recurring
):
    until = _advised(monkeypatch, recurring)

    response = new_charge_on(api, recurring.saved_method)

    assert response.status_code == 201, response.content
    assert parse_datetime(response.json()["next_run_at"]) >= until
    made = RecurringCharge.objects.get(public_id=response.json()["id"])
    assert made.next_run_at >= until


def test_another_active_charge_on_the_card_is_not_charged_before_the_wait(
    monkeypatch, primary, recurring
):
    until = _advised(monkeypatch, recurring)
    other = RecurringCharge.objects.create(
        saved_method=recurring.saved_method,
        amount=700,
        currency="EUR",
        interval="month",
        next_run_at=timezone.now() - timedelta(minutes=1),
    )
    anchor = other.anchor_day
    before = charges(primary)

    report = recurring_charges_report()

    assert (report.charged, report.declined, charges(primary)) == (0, 0, before)
    other.refresh_from_db()
    assert other.status == RecurringStatus.ACTIVE
    assert other.next_run_at >= until
    assert other.anchor_day == anchor
    assert payments_of(other) == []

    # Once the wait is over, it is charged.
    report = recurring_charges_report(now=other.next_run_at + timedelta(minutes=1))
    assert (report.charged, charges(primary)) == (1, before + 1)
