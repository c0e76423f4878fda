"""pay44: a recurring charge's ``updated_at`` is the database's time on every
write, as a payment's is (pay42): it was the writing machine's clock, so a
charge written by a machine behind looked long untouched."""

from datetime import timedelta

import pytest

from integrations.clock import database_now
from integrations.testing.clocks import whole_machine_clock
from payments import services
from payments.models import RecurringCharge
from payments.services import recurring_manage
from tests.payments.clock_setup import server_database_only  # noqa: F401
from tests.payments.recurring_setup import recurring_charge  # noqa: F401

pytestmark = pytest.mark.django_db

SKEW = 3 * 3600  # a machine three hours behind


def _recent(charge: RecurringCharge) -> None:
    row = RecurringCharge.objects.get(pk=charge.pk)
    assert abs((database_now() - row.updated_at).total_seconds()) < 60
    # The caller's copy holds what was written.
    assert charge.updated_at == row.updated_at


def test_a_new_charge_is_stamped_by_the_database(primary):
    method = services.payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m1"
    )
    with whole_machine_clock(-SKEW):
        charge = recurring_manage.recurring_create(
            customer_reference="cus_1",
            method_id=method.public_id,
            amount=900,
            currency="EUR",
            interval="month",
        )
    _recent(charge)


def test_pause_resume_and_cancel_stamp_the_database_time(recurring):
    with whole_machine_clock(-SKEW):
        paused = recurring_manage.recurring_pause(recurring=recurring)
    _recent(paused)
    with whole_machine_clock(-SKEW):
        resumed = recurring_manage.recurring_resume(recurring=paused)
    _recent(resumed)
    with whole_machine_clock(-SKEW):
        cancelled = recurring_manage.recurring_cancel(recurring=resumed)
    _recent(cancelled)


def test_a_run_claiming_its_slot_stamps_the_database_time(recurring):
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        updated_at=database_now() - timedelta(days=1)
    )
    with whole_machine_clock(-SKEW):
        services.recurring_charges_run()
    row = RecurringCharge.objects.get(pk=recurring.pk)
    assert row.runs == 1
    assert abs((database_now() - row.updated_at).total_seconds()) < 60
