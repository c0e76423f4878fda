"""Refunds: partial and repeated, never above what is captured and not yet
refunded (or being refunded)."""

import logging
import uuid

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from integrations.errors import ProviderError
from payments.models import Payment, PaymentStatus, Refund, RefundStatus
from payments.providers.base import PaymentsAdapter, RefundRequest, RefundResult
from payments.providers.base import RefundStatus as ProviderRefundStatus
from payments.services.errors import (
    AmountExceedsRefundable,
    GatewayRejected,
    GatewayUnavailable,
    InvalidState,
)
from payments.services.followups import follow_up
from payments.services.state import emit_event, lock_payment

# One logger for the whole package, named as before the split, so log
# records and logging configuration keep addressing it.
logger = logging.getLogger("payments.services")


RESERVING = (RefundStatus.PENDING, RefundStatus.UNKNOWN)


def refundable_amount(payment: Payment) -> int:
    """Captured minus refunded minus refunds still in flight."""
    reserved = (
        payment.refunds.filter(status__in=RESERVING).aggregate(total=Sum("amount"))[
            "total"
        ]
        or 0
    )
    return payment.amount_captured - payment.amount_refunded - reserved


def payment_refundable(*, payment: Payment) -> int:
    return refundable_amount(payment)


def payment_refund(
    *,
    payment: Payment,
    amount: int,
    reason: str = "",
    requested_by: str = "",
    idempotency_key: str | None = None,
) -> Refund:
    """Refund ``amount`` of a captured payment; partial and repeated refunds
    allowed, never above what is captured and not yet refunded (or being
    refunded), whatever runs concurrently.

    Returns the refund: ``succeeded``, ``failed`` (the gateway refused;
    ``failure_code``) or ``unknown`` (reconciliation re-sends it with the same
    key). Raises AmountExceedsRefundable, InvalidState, GatewayUnavailable.
    """
    key = idempotency_key or f"refund:{uuid.uuid4().hex}"
    existing = Refund.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing
    if not isinstance(amount, int) or amount <= 0:
        raise AmountExceedsRefundable("The amount must be positive.", param="amount")
    refund = _refund_reserve(payment, amount, reason, requested_by, key)
    return refund_send(refund)


def _refund_reserve(
    payment: Payment, amount: int, reason: str, requested_by: str, key: str
) -> Refund:
    with transaction.atomic():
        row = lock_payment(payment.pk)
        refundable_statuses = (
            PaymentStatus.CAPTURED,
            PaymentStatus.PARTIALLY_REFUNDED,
        )
        if row.status not in refundable_statuses:
            raise InvalidState(f"A {row.status} payment cannot be refunded.")
        available = refundable_amount(row)
        if amount > available:
            raise AmountExceedsRefundable(
                f"At most {available} can be refunded.", param="amount"
            )
        try:
            with transaction.atomic():
                return Refund.objects.create(
                    payment=row,
                    amount=amount,
                    currency=row.currency,
                    reason=reason[:255],
                    requested_by=requested_by[:150],
                    idempotency_key=key,
                )
        except IntegrityError:
            return Refund.objects.get(idempotency_key=key)


def refund_send(refund: Refund) -> Refund:
    payment = refund.payment

    def call(adapter: PaymentsAdapter, _key: str) -> RefundResult:
        # The refund's own id is its key: fixed for this refund, so a
        # re-send after an unknown outcome cannot refund twice.
        return adapter.refund(
            RefundRequest(
                provider_reference=payment.provider_reference,
                amount=refund.amount,
                currency=refund.currency,
                idempotency_key=refund.public_id,
                reason=refund.reason,
            )
        )

    try:
        result = follow_up(payment, "refund", call)
    except GatewayRejected as exc:
        return _refund_finish(
            refund, RefundStatus.FAILED, code=exc.code, message=exc.message
        )
    except GatewayUnavailable:
        _refund_finish(refund, RefundStatus.FAILED, code="no_provider_available")
        raise
    except ProviderError:
        return _refund_finish(refund, RefundStatus.UNKNOWN, code="outcome_unknown")
    if result.status == ProviderRefundStatus.FAILED:
        return _refund_finish(refund, RefundStatus.FAILED, code="refund_failed")
    return _refund_succeeded(refund, result.provider_reference)


def _refund_finish(
    refund: Refund, status: str, *, code: str = "", message: str = ""
) -> Refund:
    Refund.objects.filter(pk=refund.pk, status__in=RESERVING).update(
        status=status,
        failure_code=code[:64],
        failure_message=message[:255],
        updated_at=timezone.now(),
    )
    refund.refresh_from_db()
    logger.info(
        "refund finished",
        extra={"refund_id": refund.public_id, "status": refund.status, "code": code},
    )
    return refund


def _refund_succeeded(refund: Refund, provider_reference: str) -> Refund:
    with transaction.atomic():
        payment = lock_payment(refund.payment_id)
        updated = Refund.objects.filter(pk=refund.pk, status__in=RESERVING).update(
            status=RefundStatus.SUCCEEDED,
            provider_reference=provider_reference[:255],
            failure_code="",
            updated_at=timezone.now(),
        )
        if updated:
            refund_book(payment, refund.amount, refund.public_id)
    refund.refresh_from_db()
    return refund


def refund_book(payment: Payment, amount: int, refund_id: str) -> None:
    """Count a succeeded refund on the locked payment, with its event."""
    payment.amount_refunded += amount
    full = payment.amount_refunded >= payment.amount_captured
    status = PaymentStatus.REFUNDED if full else PaymentStatus.PARTIALLY_REFUNDED
    if payment.can_transition(status):
        payment.status = status
    payment.save()
    emit_event(payment, "payment.refunded", refund_id=refund_id, refund_amount=amount)
