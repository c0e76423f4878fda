"""pay41: a refund's retry time and its sender's lease are the database's
time, as reconciliation's ages now are. The retrier stamped them with its
own clock and staff's cancel (a web machine) compared them with its own: a
retrier behind by more than its lease had its refund cancelled while the
gateway was refunding it (the amount refundable again: a second refund could
take it), and a retrier behind sent no due refund for as long as it was
behind."""

from datetime import timedelta

import pytest

from integrations.clock import database_now
from integrations.testing.clocks import machine_clock, shared_by_machines
from payments import services
from payments.models import Payment, Refund, RefundStatus
from payments.services import refunds as refund_services
from tests.payments.refund_setup import deferred_refunds

pytestmark = pytest.mark.django_db

BEHIND = -10 * 60  # a retrier's clock, behind by twice its lease


@pytest.fixture(autouse=True)
def _server_database():
    if not shared_by_machines():
        pytest.skip("needs a server database: SQLite's clock is this machine's")


def _deferred_refund(primary, settings) -> tuple[Payment, Refund]:
    """A captured 10.00 EUR payment's 4.00 refund the gateway never got,
    due again eleven minutes ago by the database's clock."""
    payment, (refund,) = deferred_refunds(
        primary, settings, {"r": 400}, order_id="o-41r", due_ago=timedelta(minutes=11)
    )
    refund.refresh_from_db()
    return payment, refund


def test_staff_cannot_cancel_a_refund_a_retrier_behind_is_sending(
    primary, settings, monkeypatch
):
    payment, refund = _deferred_refund(primary, settings)
    send = refund_services.refund_send
    cancelled = []

    def staff_cancel_meanwhile(pending):
        # On a web machine whose clock is right.
        with machine_clock(0):
            try:
                services.refund_cancel(refund=pending, actor="staff")
                cancelled.append(pending.pk)
            except services.InvalidState:
                pass
        return send(pending)

    monkeypatch.setattr(refund_services, "refund_send", staff_cancel_meanwhile)

    with machine_clock(BEHIND):
        assert services.refunds_retry_due() == 1

    assert cancelled == []
    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert payment.amount_refunded == 400
    assert services.payment_refundable(payment=payment) == 600


def test_a_retrier_behind_sends_a_refund_due_by_the_databases_clock(primary, settings):
    _payment, refund = _deferred_refund(primary, settings)
    Refund.objects.filter(pk=refund.pk).update(
        next_attempt_at=database_now() - timedelta(seconds=5)
    )

    with machine_clock(BEHIND):
        assert services.refunds_retry_due() == 1

    refund.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
