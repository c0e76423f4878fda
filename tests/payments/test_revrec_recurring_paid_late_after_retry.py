"""A period's first try failed as never charged; the run's retry reached no
gateway (failed, its key freed, the slot given back again). When the gateway
then reports the first try paid after all, no payment of the period holds
the slot's key any more: the slot must still be taken back, or the next run
charges the period a second time."""

import pytest

from integrations.errors import NotProcessed
from payments.models import Payment, PaymentStatus, RecurringStatus
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.services.recurring import recurring_charges_report
from tests.payments.recurring_setup import (
    charges,
    failed_as_never_charged,
    gateway_says,
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("named", [True, False], ids=["named", "made_before"])
def test_a_late_payment_after_a_retry_that_reached_no_gateway_keeps_the_slot(
    primary, recurring, monkeypatch, django_capture_on_commit_callbacks, named
):
    lost = failed_as_never_charged(primary, recurring, "ch_lost")
    if not named:
        # A first try made before tries named their slot: the retry's says it.
        Payment.objects.filter(pk=lost.pk).update(
            metadata={"recurring_charge": recurring.public_id}
        )

    def unreachable(adapter, request):
        raise NotProcessed("gateway unreachable", code="connection_error")

    with monkeypatch.context() as patched:
        patched.setattr(SandboxPaymentsAdapter, "charge_saved", unreachable)
        assert recurring_charges_report().retry == 1
    _, retry = payments_of(recurring)
    assert (retry.status, retry.idempotency_key) == (PaymentStatus.FAILED, None)

    gateway_says(django_capture_on_commit_callbacks, "payment.captured", "ch_lost")

    lost.refresh_from_db()
    assert lost.status == PaymentStatus.CAPTURED
    # The period is paid by the late payment: nothing is charged again.
    assert recurring_charges_report().charged == 0
    assert len(payments_of(recurring)) == 2
    assert charges(primary) == 0
    recurring.refresh_from_db()
    assert recurring.status == RecurringStatus.ACTIVE
    assert recurring.last_payment_id == lost.pk
