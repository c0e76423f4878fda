"""pay40: the restarts a gateway's late answer makes (recurring_outcomes)
are at the database's time too, as the run's due pick: a try declined on a
card the charge has left restarts its unpaid period now on the new card,
and a stopped charge whose declined period is reported paid restarts now if
its date passed. Written by a webhook or reconciliation worker whose clock
ran ahead, that slot was in the database's future, so the next run did not
charge the period it said begins now."""

from datetime import timedelta

import pytest

from integrations.clock import database_now
from integrations.testing.clocks import machine_clock, shared_by_machines
from payments import services
from payments.models import (
    PaymentStatus,
    RecurringCharge,
    RecurringStatus,
    SandboxCharge,
)
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.services.recurring import recurring_charges_report
from payments.services.recurring_manage import recurring_method_change
from tests.payments.recurring_setup import (
    declined_lookup,
    gateway_says,
    lost_payment,  # noqa: F401 (the ``lost`` fixture)
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
    unknown_run,
)

pytestmark = pytest.mark.django_db

SKEW = 120  # seconds this machine's clock is ahead of the database's


@pytest.fixture(autouse=True)
def _server_database():
    if not shared_by_machines():
        pytest.skip("needs a server database: SQLite's clock is this machine's")


def test_a_decline_on_a_card_left_restarts_the_period_at_the_databases_now(
    primary, recurring, monkeypatch
):
    open_try = unknown_run(primary, recurring)
    new = services.payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m2"
    )
    recurring_method_change(recurring=recurring, method_id=new.public_id)
    monkeypatch.setattr(SandboxPaymentsAdapter, "retrieve_by_key", declined_lookup)

    with machine_clock(SKEW):
        services.payments_reconcile_pending()

    monkeypatch.undo()
    open_try.refresh_from_db()
    assert open_try.status == PaymentStatus.FAILED
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.ACTIVE
    # The period restarting now is charged to the new card by the next run.
    assert recurring.next_run_at <= database_now()
    assert recurring_charges_report().charged == 1


def test_a_period_paid_late_restarts_a_stopped_charge_at_the_databases_now(
    primary, recurring, lost, django_capture_on_commit_callbacks
):
    # The retry of the lost period declined: stopped, for months since.
    method = SandboxCharge.objects.filter(
        kind="method", reference=recurring.saved_method.provider_method_id
    )
    method.update(source_token="tok_decline")
    assert recurring_charges_report().declined == 1
    method.update(source_token="tok_success")
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        next_run_at=database_now() - timedelta(days=95)
    )

    with machine_clock(SKEW):
        gateway_says(django_capture_on_commit_callbacks, "payment.captured", "ch_lost")

    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.ACTIVE
    assert recurring.next_run_at <= database_now()
    assert recurring_charges_report().charged == 1
