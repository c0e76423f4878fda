"""pay41: reconciliation judges a payment's age by the database's clock.

A card's charge is made at the database's time (``state.payment_insert``); the
reconciling worker measured its age with its own clock, so a worker ahead by
more than a gateway's search lag failed a charge as not found before the lag
had passed (Stripe's and Braintree's guard), or put an unknown payment in
review early, and a worker behind did neither for as long as it was behind.
And the sweep picked a pending payment by its ``updated_at`` alone (the
writing machine's clock): a charge being sent from a machine behind was
reconciled, or failed as never sent, while it was in flight."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db.models import F

from integrations.testing.clocks import machine_clock, shared_by_machines
from payments import services
from payments.models import Payment, PaymentStatus, ReviewState
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.services import methods
from tests.payments.recurring_setup import (
    charges,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
    saved_card_charge,
    unknown_run,
)

pytestmark = pytest.mark.django_db

HOUR = 3600
LAG = HOUR  # Stripe's and Braintree's search lag


@pytest.fixture(autouse=True)
def _server_database():
    if not shared_by_machines():
        pytest.skip("needs a server database: SQLite's clock is this machine's")


@pytest.fixture
def lagging(monkeypatch):
    """The sandbox's look-up by key lags as Stripe's and Braintree's search."""
    monkeypatch.setattr(SandboxPaymentsAdapter, "lookup_lag_seconds", LAG)


def _made_ago(payment: Payment, seconds: int) -> None:
    Payment.objects.filter(pk=payment.pk).update(
        created_at=F("created_at") - timedelta(seconds=seconds)
    )


def test_a_worker_ahead_does_not_fail_a_charge_before_the_lag_has_passed(
    primary, recurring, lagging
):
    lost = unknown_run(primary, recurring)

    with machine_clock(2 * HOUR):
        services.payments_reconcile_pending()

    lost.refresh_from_db()
    assert lost.status == PaymentStatus.UNKNOWN


def test_a_worker_behind_fails_a_charge_once_the_lag_has_passed(
    primary, recurring, lagging
):
    lost = unknown_run(primary, recurring)
    _made_ago(lost, LAG + 60)

    with machine_clock(-2 * HOUR):
        services.payments_reconcile_pending()

    lost.refresh_from_db()
    assert (lost.status, lost.failure_code) == ("failed", "not_found_at_provider")


def _out_of_reach(primary) -> None:
    primary.settings = {"outage": True}
    primary.save()


def test_a_worker_ahead_does_not_put_an_unknown_payment_in_review_early(
    primary, recurring
):
    lost = unknown_run(primary, recurring)
    _made_ago(lost, (settings.PAYMENTS_UNKNOWN_REVIEW_HOURS - 1) * HOUR)
    _out_of_reach(primary)

    with machine_clock(2 * HOUR):
        services.payments_reconcile_pending()

    lost.refresh_from_db()
    assert lost.status == PaymentStatus.UNKNOWN
    assert lost.review_state == ReviewState.NONE


def test_a_worker_behind_puts_an_unknown_payment_in_review_in_time(primary, recurring):
    lost = unknown_run(primary, recurring)
    _made_ago(lost, (settings.PAYMENTS_UNKNOWN_REVIEW_HOURS + 1) * HOUR)
    _out_of_reach(primary)

    with machine_clock(-2 * HOUR):
        services.payments_reconcile_pending()

    lost.refresh_from_db()
    assert lost.status == PaymentStatus.UNKNOWN
    assert lost.review_state == ReviewState.PENDING


def _behind() -> int:
    """A web machine's clock behind by more than the sweep's wait."""
    return -(settings.PAYMENTS_RECONCILE_AFTER_MINUTES + 10) * 60


def test_a_card_charge_in_flight_from_a_machine_behind_is_not_reconciled(
    primary, recurring, monkeypatch
):
    charge = SandboxPaymentsAdapter.charge_saved
    swept = []

    def sweep_meanwhile(self, request):
        with machine_clock(0):
            swept.extend(services.payments_reconcile_pending())
        return charge(self, request)

    monkeypatch.setattr(SandboxPaymentsAdapter, "charge_saved", sweep_meanwhile)

    with machine_clock(_behind()):
        payment = saved_card_charge(recurring.saved_method)

    assert swept == []
    assert payment.status == PaymentStatus.CAPTURED, payment.failure_code
    assert charges(primary) == 1


def test_a_card_charge_not_yet_sent_from_a_machine_behind_is_not_failed(
    primary, recurring, monkeypatch
):
    build = methods.build_payment_request
    swept = []

    def sweep_meanwhile(*args, **kwargs):
        with machine_clock(0):
            swept.extend(services.payments_reconcile_pending())
        return build(*args, **kwargs)

    monkeypatch.setattr(methods, "build_payment_request", sweep_meanwhile)

    with machine_clock(_behind()):
        payment = saved_card_charge(recurring.saved_method)

    assert swept == []
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CAPTURED, payment.failure_code
    assert payment.idempotency_key
    assert charges(primary) == 1
