"""A recurring charge a declined period stopped, reactivated months later
when the gateway reports that period paid after all (recurring_resumed):
its schedule restarts as a resume's does. The period it begins is charged
now; the periods it was stopped for are never back-charged."""

from datetime import timedelta

import pytest
from django.utils import timezone

from payments.models import RecurringCharge, RecurringStatus, SandboxCharge
from payments.services.recurring import recurring_charges_report
from tests.payments.recurring_setup import (
    charges,
    gateway_says,
    lost_payment,  # noqa: F401 (the ``lost`` fixture)
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
)

pytestmark = pytest.mark.django_db


def _stopped_by_a_decline(recurring: RecurringCharge, stopped_for: timedelta) -> None:
    """The retry of the lost period is declined (the charge stops), and the
    charge then stays stopped for ``stopped_for``."""
    SandboxCharge.objects.filter(
        kind="method", reference=recurring.saved_method.provider_method_id
    ).update(source_token="tok_decline")
    assert recurring_charges_report().declined == 1
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        next_run_at=recurring.next_run_at - stopped_for
    )
    SandboxCharge.objects.filter(
        kind="method", reference=recurring.saved_method.provider_method_id
    ).update(source_token="tok_success")


def test_reactivated_months_later_charges_the_period_it_begins_once(
    primary, recurring, lost, django_capture_on_commit_callbacks
):
    _stopped_by_a_decline(recurring, timedelta(days=95))
    before = timezone.now()

    gateway_says(django_capture_on_commit_callbacks, "payment.captured", "ch_lost")

    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.ACTIVE
    assert before <= recurring.next_run_at <= timezone.now()
    assert recurring.anchor_day == recurring.next_run_at.day
    restarted_at = recurring.next_run_at
    assert recurring_charges_report().charged == 1
    # The three months it was stopped for are never charged.
    assert recurring_charges_report().charged == 0
    assert charges(primary) == 1
    recurring.refresh_from_db()
    assert recurring.next_run_at.month == (restarted_at.month % 12) + 1


def test_reactivated_before_its_next_date_keeps_it(
    primary, recurring, lost, django_capture_on_commit_callbacks
):
    _stopped_by_a_decline(recurring, timedelta(0))
    recurring.refresh_from_db()
    kept = recurring.next_run_at
    assert kept > timezone.now()

    gateway_says(django_capture_on_commit_callbacks, "payment.captured", "ch_lost")

    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.ACTIVE
    assert recurring.next_run_at == kept
    assert recurring_charges_report().charged == 0
    assert len(payments_of(recurring)) == 2
