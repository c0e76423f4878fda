"""r-pay44: a recurring charge's slot taken back when its lost try is
reported paid after all (``slots.period_paid``) stamps ``updated_at`` with
the database's time, as pay44 made every other write of the charge do: it
was the machine's clock, so a charge written by a machine behind looked
long untouched."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.clock import database_now
from integrations.testing.clocks import whole_machine_clock
from payments import services
from payments.models import Payment, PaymentStatus, RecurringCharge
from payments.services.recurring import recurring_charges_report
from tests.payments.clock_setup import server_database_only  # noqa: F401
from tests.payments.recurring_setup import (
    gateway_says,
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
)

pytestmark = pytest.mark.django_db

SKEW = 3 * 3600  # a machine three hours behind


def _lost(primary, recurring: RecurringCharge) -> Payment:
    """The run's charge answered 500, reconciliation then failed it as never
    charged (its slot given back); the gateway knows it as ch_lost."""
    primary.settings = {"error_rate": 1.0}
    primary.save()
    recurring_charges_report()
    primary.settings = {}
    primary.save()
    (payment,) = payments_of(recurring)
    Payment.objects.filter(pk=payment.pk).update(
        account=primary, provider_reference="ch_lost"
    )
    services.payments_reconcile_pending()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.FAILED
    return payment


def test_the_slot_taken_back_is_stamped_by_the_database(
    primary, recurring, django_capture_on_commit_callbacks
):
    _lost(primary, recurring)
    recurring.refresh_from_db()
    slot = recurring.next_run_at
    assert slot <= timezone.now()  # given back
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        updated_at=database_now() - timedelta(days=1)
    )
    with whole_machine_clock(-SKEW):
        gateway_says(django_capture_on_commit_callbacks, "payment.captured", "ch_lost")
    row = RecurringCharge.objects.get(pk=recurring.pk)
    assert row.next_run_at > slot  # taken back
    assert abs((database_now() - row.updated_at).total_seconds()) < 60
