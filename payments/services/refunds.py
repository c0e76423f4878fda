"""Refunds: partial and repeated, never above what is captured and not yet
refunded (or being refunded)."""

import logging
import uuid
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q, Sum

from integrations.clock import database_now, stamp
from integrations.errors import ProviderError
from integrations.row_sql import row_insert
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
from payments.services.messages import public_message
from payments.services.state import emit_event, lock_payment, payment_save

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
    ``failure_code``), ``unknown`` (reconciliation re-sends it with the same
    key) or ``pending`` (no gateway reachable: sent again with back-off,
    ``refunds_retry_due``). Raises AmountExceedsRefundable, InvalidState.
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
                # Stamped with the database's time in its INSERT: the
                # retrier (another machine) takes it for an orphan by it.
                return refund_insert(
                    Refund(
                        payment=row,
                        amount=amount,
                        currency=row.currency,
                        reason=reason[:255],
                        requested_by=requested_by[:150],
                        idempotency_key=key,
                    )
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
            refund,
            RefundStatus.FAILED,
            code=exc.code,
            message=exc.message,
            provider_code=exc.provider_code,
        )
    except GatewayUnavailable:
        # Nothing reached the gateway: safe to send again, same key.
        return _refund_deferred(refund)
    except ProviderError:
        return _refund_finish(refund, RefundStatus.UNKNOWN, code="outcome_unknown")
    if result.status == ProviderRefundStatus.FAILED:
        return _refund_finish(refund, RefundStatus.FAILED, code="refund_failed")
    return _refund_succeeded(refund, result.provider_reference)


def _refund_finish(
    refund: Refund,
    status: str,
    *,
    code: str = "",
    message: str = "",
    provider_code: str = "",
) -> Refund:
    Refund.objects.filter(pk=refund.pk, status__in=RESERVING).update(
        status=status,
        failure_code=code[:64],
        failure_message=message[:255],
        failure_provider_code=provider_code[:64],
        updated_at=stamp(),
    )
    refund.refresh_from_db()
    logger.info(
        "refund finished",
        extra={"refund_id": refund.public_id, "status": refund.status, "code": code},
    )
    return refund


def _refund_succeeded(refund: Refund, provider_reference: str) -> Refund:
    # A refund cancelled while its last send was in flight is still booked:
    # the gateway's word on money wins.
    open_states = (*RESERVING, RefundStatus.CANCELLED)
    with transaction.atomic():
        payment = lock_payment(refund.payment_id)
        updated = Refund.objects.filter(pk=refund.pk, status__in=open_states).update(
            status=RefundStatus.SUCCEEDED,
            provider_reference=provider_reference[:255],
            failure_code="",
            updated_at=stamp(),
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
    payment_save(payment)
    emit_event(payment, "payment.refunded", refund_id=refund_id, refund_amount=amount)


# --- Refunds that never reached the gateway --------------------------------

# A refund's stamps the retrier compares (integrations.clock): the database's.
_DB_CLOCK = ("created_at", "updated_at")


def refund_insert(refund: Refund) -> Refund:
    """INSERT the new ``refund`` (ours, or one a gateway's event reports)
    with the database's time as its stamps, in the statement itself: the
    retrier measures them, the timeline and the refunds' order mix them with
    the payment's other records. IntegrityError on a unique conflict."""
    return row_insert(refund, db_clock=_DB_CLOCK)


# A pending refund without a retry time whose send died with its process.
_ORPHAN_AFTER = timedelta(minutes=10)
# How long a retrier holds a refund before another may send it again.
_SEND_LEASE = timedelta(minutes=5)


def _retry_delay(attempts: int) -> timedelta:
    """Exponential back-off: 1, 2, 4 ... minutes, at most an hour."""
    return timedelta(seconds=min(60 * 2 ** max(attempts - 1, 0), 3600))


def _refund_deferred(refund: Refund) -> Refund:
    attempts = refund.send_attempts + 1
    Refund.objects.filter(pk=refund.pk, status=RefundStatus.PENDING).update(
        send_attempts=attempts,
        # The database's time, as the retrier's now and staff's cancel are.
        next_attempt_at=database_now() + _retry_delay(attempts),
        sending_until=None,
        failure_code="no_provider_available",
        failure_message=public_message("no_provider_available"),
        updated_at=stamp(),
    )
    logger.warning(
        "refund deferred: no gateway reachable",
        extra={"refund_id": refund.public_id, "attempts": attempts},
    )
    refund.refresh_from_db()
    return refund


def refunds_retry_due(*, now: datetime | None = None, limit: int = 100) -> int:
    """Send again every pending refund whose retry time has come (and any
    whose send died with its process), under its own key. Returns how many
    were sent."""
    # The database's time: staff's cancel (another machine) compares the
    # lease below; a retrier behind wrote one already over, a send cancellable.
    given = now
    now = now or database_now()
    due = Refund.objects.filter(status=RefundStatus.PENDING).filter(
        Q(next_attempt_at__lte=now)
        | Q(next_attempt_at__isnull=True, updated_at__lte=now - _ORPHAN_AFTER)
    )
    sent = 0
    for refund in due.select_related("payment").order_by("pk")[:limit]:
        # Each lease from its own claim: behind slow sends, one from the
        # run's start would be over already (r-pay41).
        until = (given or database_now()) + _SEND_LEASE
        # Claimed by moving its retry time: one sender per refund at a time.
        claimed = Refund.objects.filter(
            pk=refund.pk,
            status=RefundStatus.PENDING,
            next_attempt_at=refund.next_attempt_at,
        ).update(next_attempt_at=until, sending_until=until)
        if claimed:
            refund_send(refund)
            sent += 1
    return sent


def refund_cancel(*, refund: Refund, actor: str = "") -> Refund:
    """Staff give up on a refund that never reached the gateway."""
    # The database's time, as the sender's lease (refunds_retry_due).
    now = database_now()
    cancelled = (
        Refund.objects.filter(
            pk=refund.pk, status=RefundStatus.PENDING, next_attempt_at__isnull=False
        )
        # Not while a retry's send is in flight: cancelled, its amount would
        # be refundable again while the gateway may be refunding it.
        .filter(Q(sending_until__isnull=True) | Q(sending_until__lte=now))
        .update(status=RefundStatus.CANCELLED, updated_at=now)
    )
    if not cancelled:
        raise InvalidState(
            "Only a refund waiting to be sent again can be cancelled (not while "
            "it is being sent)."
        )
    logger.info(
        "refund cancelled", extra={"refund_id": refund.public_id, "actor": actor}
    )
    refund.refresh_from_db()
    return refund
