"""Set-up shared by the refund retrier tests (pay41, r-pay41): refunds of a
captured payment that no gateway got, due again by the database's clock."""

from datetime import timedelta
from typing import Any

from integrations.clock import database_now
from payments import services
from payments.models import Payment, PaymentStatus, Refund, RefundStatus


def deferred_refunds(
    primary: Any,
    settings: Any,
    refunds: dict[str, int],
    *,
    order_id: str,
    due_ago: timedelta,
) -> tuple[Payment, list[Refund]]:
    """A captured 10.00 EUR payment (order ``order_id``, created under the
    key "k-" and the order's rest) and its ``refunds``
    (idempotency key: amount), each sent while ``primary`` was out (one
    attempt: left pending), due again ``due_ago`` ago by the database's
    clock; ``primary`` is back."""
    settings.PROVIDER_MAX_ATTEMPTS = 1
    payment = services.payment_create(
        order_id=order_id,
        amount=1000,
        currency="EUR",
        source_token="tok_success",
        capture=True,
        idempotency_key=f"k-{order_id.removeprefix('o-')}",
    )
    assert payment.status == PaymentStatus.CAPTURED
    primary.settings = {"outage": True}
    primary.save()
    pending = [
        services.payment_refund(payment=payment, amount=amount, idempotency_key=key)
        for key, amount in refunds.items()
    ]
    assert {refund.status for refund in pending} == {RefundStatus.PENDING}
    primary.settings = {}
    primary.save()
    Refund.objects.filter(pk__in=[r.pk for r in pending]).update(
        next_attempt_at=database_now() - due_ago
    )
    return payment, pending
