"""A decline at the run stops the recurring charge in the transaction that
stores the decline: a run killed before it records the run loses no stop.
A decline an earlier (killed) run stored without its stop is finished by
the next run before it charges anything."""

from datetime import timedelta

import pytest
from django.utils import timezone

from payments.models import (
    PaymentStatus,
    RecurringCharge,
    RecurringStatus,
    SandboxCharge,
)
from payments.services import recurring as recurring_module
from payments.services.recurring import recurring_charges_report
from tests.payments.recurring_setup import (
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
)

pytestmark = pytest.mark.django_db


def _card_declines(recurring: RecurringCharge) -> None:
    SandboxCharge.objects.filter(
        kind="method", reference=recurring.saved_method.provider_method_id
    ).update(source_token="tok_decline")


def _killed(*args, **kwargs):
    raise RuntimeError("killed")


def test_a_run_killed_after_the_decline_still_stops_the_charge(
    primary, recurring, monkeypatch
):
    _card_declines(recurring)
    monkeypatch.setattr(recurring_module, "_recurring_record", _killed)

    run = recurring_charges_report()

    assert len(run.errors) == 1
    (declined,) = payments_of(recurring)
    assert declined.status == PaymentStatus.FAILED
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED
    assert recurring.last_payment_id == declined.pk


def test_the_next_run_finishes_a_decline_a_killed_run_left(primary, recurring):
    _card_declines(recurring)
    assert recurring_charges_report().declined == 1
    (declined,) = payments_of(recurring)
    # What a run killed between the decline and its record left (before the
    # two shared a transaction): still active, the decline unrecorded.
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        status=RecurringStatus.ACTIVE, last_payment=None, runs=0
    )
    next_month = timezone.now() + timedelta(days=32)

    run = recurring_charges_report(now=next_month)

    assert (run.charged, run.declined) == (0, 1)
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.FAILED
    assert recurring.last_payment_id == declined.pk
    assert payments_of(recurring) == [declined]  # nothing charged again


def test_a_charge_reactivated_after_its_recorded_decline_is_charged(primary, recurring):
    _card_declines(recurring)
    assert recurring_charges_report().declined == 1
    # Staff set it going again with a working card: the recorded decline
    # (its last_payment) is not finished a second time.
    SandboxCharge.objects.filter(
        kind="method", reference=recurring.saved_method.provider_method_id
    ).update(source_token="tok_success")
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        status=RecurringStatus.ACTIVE
    )

    run = recurring_charges_report(now=timezone.now() + timedelta(days=32))

    assert (run.charged, run.declined) == (1, 0)
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.ACTIVE
