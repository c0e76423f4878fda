"""r-pay41: the retrier's lease on each refund it sends runs from when it
claims that refund, not from when its run began. A run sends its due
refunds one after another; behind slow sends (a gateway timing out during an
incident) a later refund's lease was written already over: staff could
cancel it while the gateway was refunding it (its amount refundable again)
and another retrier could send it at once."""

from datetime import timedelta

import pytest

from payments import services
from payments.models import Payment, Refund, RefundStatus
from payments.services import refunds as refund_services
from tests.payments.refund_setup import deferred_refunds

pytestmark = pytest.mark.django_db

# How long the first send takes: more than the sender's five-minute lease.
SLOW_SEND = timedelta(minutes=6)


def _deferred_refunds(primary, settings) -> tuple[Payment, list[Refund]]:
    """Two refunds of a captured 10.00 EUR payment that no gateway got, due."""
    refunds = {"r1": 400, "r2": 300}
    return deferred_refunds(
        primary, settings, refunds, order_id="o-r41", due_ago=timedelta(minutes=1)
    )


def test_a_later_refunds_lease_runs_from_its_own_claim(primary, settings, monkeypatch):
    payment, (first, second) = _deferred_refunds(primary, settings)
    # The database's clock, moved on by the slow first send.
    passed = [timedelta(0)]
    real_now = refund_services.database_now
    monkeypatch.setattr(refund_services, "database_now", lambda: real_now() + passed[0])
    send = refund_services.refund_send
    cancelled = []

    def slow_then_staff_cancel(pending):
        if pending.pk == first.pk:
            passed[0] += SLOW_SEND
        else:
            # Staff cancel the second while its send is in flight.
            try:
                services.refund_cancel(refund=pending, actor="staff")
                cancelled.append(pending.pk)
            except services.InvalidState:
                pass
        return send(pending)

    monkeypatch.setattr(refund_services, "refund_send", slow_then_staff_cancel)

    assert services.refunds_retry_due() == 2

    assert cancelled == []
    payment.refresh_from_db()
    assert payment.amount_refunded == 700
    assert services.payment_refundable(payment=payment) == 300
    assert set(
        Refund.objects.filter(pk__in=[first.pk, second.pk]).values_list(
            "status", flat=True
        )
    ) == {RefundStatus.SUCCEEDED}
