"""Concurrent refunds on PostgreSQL never refund more than was captured."""

import threading
import uuid

import pytest
from django.db import connection

from payments import services
from payments.models import Payment, Refund, RefundStatus, SandboxCharge

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_refunds_never_exceed_captured(primary):
    payment = services.payment_create(
        order_id="race",
        amount=1000,
        currency="EUR",
        source_token="tok_success",
        capture=True,
        idempotency_key=uuid.uuid4().hex,
    )
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def refund() -> None:
        try:
            barrier.wait()
            result = services.payment_refund(
                payment=Payment.objects.get(pk=payment.pk), amount=300
            )
            outcomes.append(result.status)
        except services.AmountExceedsRefundable:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=refund) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    payment.refresh_from_db()
    assert outcomes.count(RefundStatus.SUCCEEDED) == 3
    assert outcomes.count("refused") == 5
    assert payment.amount_refunded == 900
    assert Refund.objects.filter(status=RefundStatus.SUCCEEDED).count() == 3
    charge = SandboxCharge.objects.get(kind="payment")
    assert charge.amount_refunded == 900
