"""pay42: a payment's ``updated_at`` is the database's time on every write.

The sweep sends the capture an authorization still owes once the payment
has not been written for ``PAYMENTS_RECONCILE_AFTER_MINUTES`` by its
``updated_at`` (the database's time it measures by); later writes stamped
it with the writing machine's clock. An authorization just written by a
machine behind looked long untouched: its capture was sent by the sweep
while the create's own process was about to send it."""

from datetime import timedelta

import pytest
from django.conf import settings

from integrations.clock import database_now
from integrations.testing.clocks import shared_by_machines, whole_machine_clock
from payments import services
from payments.models import Payment, PaymentAttempt, PaymentStatus
from payments.providers.base import PaymentEventKind
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.services.events import payment_event_apply
from tests.payments.conftest import authorized_payment

pytestmark = pytest.mark.django_db

SKEW = (settings.PAYMENTS_RECONCILE_AFTER_MINUTES + 10) * 60


@pytest.fixture(autouse=True)
def _server_database():
    if not shared_by_machines():
        pytest.skip("needs a server database: SQLite's clock is this machine's")


def _recent(payment: Payment) -> None:
    row = Payment.objects.get(pk=payment.pk)
    assert abs((database_now() - row.updated_at).total_seconds()) < 60
    # The caller's copy is the row: a guarded write (state._GUARDED) matches.
    assert payment.updated_at == row.updated_at


def test_an_authorization_from_a_machine_behind_keeps_its_capture_its_own(
    primary, monkeypatch
):
    with whole_machine_clock(-SKEW):
        payment = authorized_payment()
    # Its create still owes the capture (Square's second call), about to send it.
    monkeypatch.setattr(SandboxPaymentsAdapter, "capture_after_authorize", True)
    Payment.objects.filter(pk=payment.pk).update(capture_requested=True)

    services.payments_reconcile_pending()

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.AUTHORIZED
    assert not PaymentAttempt.objects.filter(
        payment=payment, operation="capture"
    ).exists()


def test_a_guarded_move_stamps_the_database_time(primary):
    with whole_machine_clock(-SKEW):
        payment = authorized_payment()
    _recent(payment)


def test_a_move_under_the_lock_stamps_the_database_time(primary):
    payment = authorized_payment()
    # The caller's copy is out of date: the move takes the lock, saves the row.
    Payment.objects.filter(pk=payment.pk).update(
        updated_at=payment.updated_at - timedelta(seconds=1)
    )
    with whole_machine_clock(-SKEW):
        moved = services.payment_capture(payment=payment)
    assert moved.status == PaymentStatus.CAPTURED
    _recent(moved)


def test_a_dispute_stamps_the_database_time(primary):
    payment = authorized_payment()
    with whole_machine_clock(-SKEW):
        row = payment_event_apply(
            payment=payment,
            kind=PaymentEventKind.DISPUTE_OPENED,
            dispute_status="needs_response",
        )
    _recent(row)
