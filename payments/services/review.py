"""Staff's decisions on the review queue: approve or reject a payment held
for review (a fraud hold, a gateway's correction, a payment reconciliation
could not settle, a refused owed capture)."""

import logging

from integrations.clock import stamp
from payments.models import Payment, PaymentStatus, ReviewReason, ReviewState
from payments.services.errors import (
    AuthorizationPending,
    FollowUpInProgress,
    InvalidState,
    OutcomePending,
)
from payments.services.followups import (
    CAPTURED_STATUSES,
    capture_locked,
    follow_up_under_way,
    fraud_held,
    one_at_a_time,
    payment_void,
)
from payments.services.state import emit_event, log_ids

# One logger for the whole package, named as before the split, so log
# records and logging configuration keep addressing it.
logger = logging.getLogger("payments.services")

# A fraud hold that no longer holds an authorization: nothing to capture.
_RELEASED = (PaymentStatus.VOIDED, PaymentStatus.FAILED, PaymentStatus.BLOCKED)


def payment_review_approve(*, payment: Payment, actor: str) -> Payment:
    """Staff approve a payment held for review. A fraud hold is captured when
    the capture is owed (the create asked for it, no void since); one the
    storefront asked to authorize only is approved without a gateway call,
    left authorized for the storefront's capture. Any other review is
    acknowledged (a payment the gateway corrected, or one that cannot be
    settled automatically: staff have checked it at the gateway). A fraud
    hold captured already (staff's capture from the payment page, or one
    racing this approval) is acknowledged: it stayed in the queue so staff
    see it."""
    payment = _under_review(payment)
    if payment.review_reason != ReviewReason.FRAUD:
        return _review_settled(payment, ReviewState.APPROVED, "acknowledged")
    # Refunded in full: captured once, but it holds no money any more (one
    # refunded in part still does: its capture is acknowledged).
    if payment.status in _RELEASED or payment.status == PaymentStatus.REFUNDED:
        raise InvalidState(
            f"The payment is {payment.status}: nothing to capture; reject it."
        )
    if payment.status in CAPTURED_STATUSES:
        return _review_settled(payment, ReviewState.APPROVED, "capture acknowledged")
    # Decided on the row as it is under the lock the capture takes: a void
    # the storefront sends meanwhile clears the capture it owed.
    payment = one_at_a_time(payment, lambda row: _hold_approved(row, actor))
    if payment.status == PaymentStatus.CAPTURED:
        _review_decided(payment, ReviewState.APPROVED)
    payment.refresh_from_db()
    return payment


def _hold_approved(payment: Payment, actor: str) -> Payment:
    """A fraud hold's approval, its row locked (``one_at_a_time``)."""
    if not fraud_held(payment):
        raise InvalidState("The payment is not waiting for review.")
    if payment.capture_requested:
        return capture_locked(payment, actor=actor)
    _refuse_unless_authorized(payment)
    busy = follow_up_under_way(payment)
    if busy is not None:
        # Staff's capture or the storefront's void is at the gateway: decide
        # once it has answered.
        raise FollowUpInProgress(
            f"A {busy} of this payment is already under way; retry later.",
            code=f"{busy}_in_progress",
        )
    # In the lock's commit: the storefront's capture waits for it. Told, as
    # a capture or a void would tell it: the authorization is its to capture.
    if _review_decided(payment, ReviewState.APPROVED):
        emit_event(payment, "payment.authorized", review="approved")
    logger.info(
        "payment review decided",
        extra={**log_ids(payment), "decision": "approved, capture left to storefront"},
    )
    return payment


def _refuse_unless_authorized(payment: Payment) -> None:
    """An authorize-only hold is approved once it holds an authorization the
    storefront can capture; other statuses the same way as a capture."""
    if payment.status == PaymentStatus.AUTHORIZED:
        return
    if payment.status in (PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION):
        raise AuthorizationPending(
            f"The payment is {payment.status}, not authorized yet; approve it "
            "once it is."
        )
    if payment.status == PaymentStatus.UNKNOWN:
        raise OutcomePending(
            "The payment's outcome is being reconciled; approve it once it is settled."
        )
    raise InvalidState(f"The payment is {payment.status}: nothing to approve.")


def payment_review_reject(*, payment: Payment, actor: str) -> Payment:
    """Staff reject a payment held for review: void it. A fraud hold that
    holds no money any more (voided, failed, refunded) is closed as rejected;
    one captured must be refunded first."""
    payment = _under_review(payment)
    if payment.review_reason != ReviewReason.FRAUD:
        raise InvalidState("Only a fraud hold can be rejected; acknowledge this one.")
    if payment.status in _RELEASED or payment.status == PaymentStatus.REFUNDED:
        return _review_settled(payment, ReviewState.REJECTED, "rejection recorded")
    if payment.status in CAPTURED_STATUSES:
        raise InvalidState(
            f"The payment is {payment.status}: refund it, then reject it; "
            "or approve it to keep it."
        )
    payment = payment_void(payment=payment, actor=actor)
    if payment.status == PaymentStatus.VOIDED:
        _review_decided(payment, ReviewState.REJECTED)
    payment.refresh_from_db()
    return payment


def _review_decided(payment: Payment, state: str) -> bool:
    """Record staff's decision; False when it was decided already."""
    return bool(
        Payment.objects.filter(pk=payment.pk, review_state=ReviewState.PENDING).update(
            review_state=state, updated_at=stamp()
        )
    )


def _under_review(payment: Payment) -> Payment:
    """The payment as it now is (the storefront may have moved it since the
    caller read it), refused unless it waits for review."""
    payment.refresh_from_db()
    if payment.review_state != ReviewState.PENDING:
        raise InvalidState("The payment is not waiting for review.")
    return payment


def _review_settled(payment: Payment, state: str, what: str) -> Payment:
    """Record staff's decision without a gateway call."""
    _review_decided(payment, state)
    logger.info("payment review decided", extra={**log_ids(payment), "decision": what})
    payment.refresh_from_db()
    return payment
