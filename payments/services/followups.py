"""Capture, void and review: follow-up operations at the account that holds
the payment."""

import logging
from collections.abc import Callable
from typing import TypeVar

from django.db import transaction
from django.utils import timezone

from integrations.errors import NotProcessed, ProviderError, Rejected
from integrations.reruns import done_by_dead_run, record_done
from payments.models import (
    Payment,
    PaymentStatus,
    ReviewReason,
    ReviewState,
)
from payments.providers.base import (
    CaptureRequest,
    PaymentResult,
    PaymentsAdapter,
    ProviderStatus,
)
from payments.services.attempts import adapter_for, attempted
from payments.services.errors import (
    AmountExceedsCapturable,
    GatewayRejected,
    GatewayUnavailable,
    InvalidState,
)
from payments.services.messages import (
    provider_code_of,
    provider_text_keep,
    public_message,
)
from payments.services.state import advance, change_from_result, log_ids, mark_unknown

# One logger for the whole package, named as before the split, so log
# records and logging configuration keep addressing it.
logger = logging.getLogger("payments.services")

T = TypeVar("T")


def follow_up(
    payment: Payment, operation: str, call: Callable[[PaymentsAdapter, str], T]
) -> T:
    """One follow-up operation at the account that holds the payment."""
    if payment.account is None or not payment.provider_reference:
        raise InvalidState("The payment has no gateway charge to act on.")
    adapter = adapter_for(payment.account)
    try:
        return attempted(payment, adapter, operation, lambda key: call(adapter, key))
    except Rejected as exc:
        provider_text_keep(payment, exc, operation)
        raise GatewayRejected(
            public_message(exc.code), code=exc.code, provider_code=provider_code_of(exc)
        ) from exc
    except NotProcessed as exc:
        raise GatewayUnavailable(
            "The payment gateway could not be reached; nothing was done."
        ) from exc


def payment_capture(
    *, payment: Payment, amount: int | None = None, actor: str = ""
) -> Payment:
    """Capture an authorized payment, all of it or ``amount`` (partial)."""
    payment.refresh_from_db()
    if payment.status != PaymentStatus.AUTHORIZED:
        if _captured_by_its_dead_run(payment, amount):
            return payment
        raise InvalidState(f"A {payment.status} payment cannot be captured.")
    remaining = payment.amount_authorized - payment.amount_captured
    amount = remaining if amount is None else amount
    if amount <= 0 or amount > remaining:
        raise AmountExceedsCapturable(
            f"At most {remaining} can be captured.", param="amount"
        )

    def call(adapter: PaymentsAdapter, key: str) -> PaymentResult:
        return adapter.capture(
            CaptureRequest(
                provider_reference=payment.provider_reference,
                amount=amount,
                currency=payment.currency,
                idempotency_key=key,
            )
        )

    try:
        result = follow_up(payment, "capture", call)
    except ProviderError:
        logger.warning("payment capture outcome unknown", extra=log_ids(payment))
        return mark_unknown(payment)
    logger.info("payment captured", extra={**log_ids(payment), "actor": actor})
    return _advanced(payment, "capture", result)


def payment_void(*, payment: Payment, actor: str = "") -> Payment:
    """Release an authorization (or abandon a 3-D Secure payment)."""
    payment.refresh_from_db()
    if payment.status not in (PaymentStatus.AUTHORIZED, PaymentStatus.REQUIRES_ACTION):
        if payment.status == PaymentStatus.VOIDED and _done_by_its_dead_run(
            payment, "void"
        ):
            return payment
        raise InvalidState(f"A {payment.status} payment cannot be voided.")

    def call(adapter: PaymentsAdapter, key: str) -> PaymentResult:
        return adapter.void(
            provider_reference=payment.provider_reference, idempotency_key=key
        )

    try:
        result = follow_up(payment, "void", call)
    except GatewayRejected:
        # A retried void the provider refuses because it is already done.
        result = _already_voided(payment)
        if result is None:
            raise
    except ProviderError:
        logger.warning("payment void outcome unknown", extra=log_ids(payment))
        return mark_unknown(payment)
    logger.info("payment voided", extra={**log_ids(payment), "actor": actor})
    return _advanced(payment, "void", result)


def _advanced(payment: Payment, operation: str, result: PaymentResult) -> Payment:
    """``advance`` with the result, noting on this request's idempotency
    record (integrations.reruns) in the same commit that it did it."""
    # No savepoint, as in advance: inside a commit group it aborts it whole.
    with transaction.atomic(savepoint=False):
        row = advance(payment, change_from_result(result))
        record_done(_mark(payment, operation))
    return row


def _mark(payment: Payment, operation: str) -> str:
    return f"payment.{operation}:{payment.public_id}"


# A capture stays done when refunds follow it.
_CAPTURED = (
    PaymentStatus.CAPTURED,
    PaymentStatus.PARTIALLY_REFUNDED,
    PaymentStatus.REFUNDED,
)


def _captured_by_its_dead_run(payment: Payment, amount: int | None) -> bool:
    return (
        payment.status in _CAPTURED
        and (amount is None or amount == payment.amount_captured)
        and _done_by_its_dead_run(payment, "capture")
    )


def _done_by_its_dead_run(payment: Payment, operation: str) -> bool:
    """Whether this request re-runs one whose worker died after it did
    ``operation``: its own idempotency record says so (written with the
    payment's change), never another request's attempt. Its answer is the
    payment as the first run would have answered; any other request is
    refused."""
    done = done_by_dead_run(_mark(payment, operation))
    if done:
        logger.info(
            "payment follow-up answered for a re-run request",
            extra={**log_ids(payment), "operation": operation},
        )
    return done


def _already_voided(payment: Payment) -> PaymentResult | None:
    """The provider's record when it says the payment is voided already."""
    assert payment.account is not None
    try:
        found = adapter_for(payment.account).retrieve(
            provider_reference=payment.provider_reference
        )
    except ProviderError:
        return None
    if found is None or found.status != ProviderStatus.VOIDED:
        return None
    logger.info("payment was already voided at the gateway", extra=log_ids(payment))
    return found


def _review_decided(payment: Payment, state: str) -> None:
    Payment.objects.filter(pk=payment.pk, review_state=ReviewState.PENDING).update(
        review_state=state, updated_at=timezone.now()
    )


def payment_review_approve(*, payment: Payment, actor: str) -> Payment:
    """Staff approve a payment held for review: capture it (fraud hold), or
    acknowledge it (a payment the gateway corrected, or one that cannot be
    settled automatically: staff have checked it at the gateway)."""
    if payment.review_state != ReviewState.PENDING:
        raise InvalidState("The payment is not waiting for review.")
    if payment.review_reason != ReviewReason.FRAUD:
        _review_decided(payment, ReviewState.APPROVED)
        logger.info("payment review acknowledged", extra=log_ids(payment))
        payment.refresh_from_db()
        return payment
    payment = payment_capture(payment=payment, actor=actor)
    if payment.status == PaymentStatus.CAPTURED:
        _review_decided(payment, ReviewState.APPROVED)
    payment.refresh_from_db()
    return payment


def payment_review_reject(*, payment: Payment, actor: str) -> Payment:
    """Staff reject a payment held for review: void it."""
    if payment.review_state != ReviewState.PENDING:
        raise InvalidState("The payment is not waiting for review.")
    if payment.review_reason != ReviewReason.FRAUD:
        raise InvalidState("Only a fraud hold can be rejected; acknowledge this one.")
    payment = payment_void(payment=payment, actor=actor)
    if payment.status == PaymentStatus.VOIDED:
        _review_decided(payment, ReviewState.REJECTED)
    payment.refresh_from_db()
    return payment
