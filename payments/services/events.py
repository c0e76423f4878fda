"""Provider events (webhooks), applied monotonically."""

import uuid

from django.db import transaction

from integrations.errors import Rejected
from payments.models import (
    MONEY_HOLDING_STATUSES,
    DisputeStatus,
    Payment,
    PaymentNote,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from payments.services.cards import card_lock, learnt_at
from payments.services.errors import RefundAnswerPending
from payments.services.followups import storefront_void_done
from payments.services.messages import decline_fields, late_decline_keep
from payments.services.recurring import recurring_payment_failed
from payments.services.recurring_outcomes import (
    recurring_payment_paid,
    recurring_refund_unpaid,
)
from payments.services.refunds import (
    RESERVING,
    refund_book,
    refund_insert,
    refundable_amount,
)
from payments.services.settle import SETTLED_FAILED
from payments.services.slots import period_charged
from payments.services.state import (
    FAILED_AT_PROVIDER,
    Change,
    advance,
    emit_event,
    lock_payment,
    payment_save,
)


def payment_event_apply(
    *,
    payment: Payment,
    kind: str,
    amount: int | None = None,
    refund_reference: str = "",
    dispute_status: str = "",
    amount_is_total: bool = False,
    decline: Rejected | None = None,
) -> Payment:
    """Apply one provider event monotonically: a late or repeated event never
    moves the payment backwards or counts money twice. ``amount_is_total``:
    a refund event's amount is the payment's refunded total (Stripe);
    ``decline``: the decline a failure event reports."""
    from payments.providers.base import PaymentEventKind as K

    # Money moved (or, finally, did not): the provider's word wins, even over
    # what the storefront was told (state.correction_allowed). A plain FAILED
    # may still turn into a success, so it never undoes one.
    if kind == K.AUTHORIZED:
        authorized = amount or payment.amount
        change = Change(PaymentStatus.AUTHORIZED, authorized, provider_says=True)
        return _paid_event(payment, change)
    if kind == K.SUCCEEDED:
        captured = amount or max(payment.amount_authorized, payment.amount)
        change = Change(PaymentStatus.CAPTURED, captured=captured, provider_says=True)
        return _paid_event(payment, change)
    if kind in (K.FAILED, K.FAILED_FINAL):
        return _failed_event(payment, final=kind == K.FAILED_FINAL, decline=decline)
    if kind == K.VOIDED:
        voided = advance(payment, Change(status=PaymentStatus.VOIDED))
        return storefront_void_done(voided)
    if kind == K.REFUNDED:
        return _refund_event(payment, amount, refund_reference, total=amount_is_total)
    if kind in (K.DISPUTE_OPENED, K.DISPUTE_CLOSED):
        opened = kind == K.DISPUTE_OPENED
        return _dispute_event(payment, opened=opened, provider_status=dispute_status)
    return payment


def _failed_event(
    payment: Payment, *, final: bool, decline: Rejected | None = None
) -> Payment:
    """Failed on the gateway's word, with the decline it reported stored as
    the create call's would be (the card's hard-decline and retry rules read
    it; ``advance`` drops it if the payment does not fail by it); a recurring
    slot's payment ended so follows the recurring run's rule in the same
    transaction."""
    fields = decline_fields(decline) if decline is not None else None
    with transaction.atomic():
        locked = lock_payment(payment.pk)
        before = locked.status
        change = Change(PaymentStatus.FAILED, fields=fields, provider_says=final)
        row = advance(locked, change)
        if before != PaymentStatus.FAILED and row.status == PaymentStatus.FAILED:
            late_decline_keep(row, decline, "webhook")
            recurring_payment_failed(row)
        elif decline is not None and row.failure_code in WITHOUT_REASON:
            _decline_after_failure(row, decline)
    return row


# Failures that carry no word of the card's: reconciliation found no record
# of the charge, the gateway said failed but not why, staff settled it as
# failed. A decline reported later is the card's word and is kept.
WITHOUT_REASON = {
    "not_found_at_provider": (
        "decline_after_not_found",
        "Reconciliation had found no record of this charge",
    ),
    FAILED_AT_PROVIDER: (
        "decline_after_failure",
        "The gateway had reported this charge failed without a reason",
    ),
    SETTLED_FAILED: (
        "decline_after_settled",
        "Staff had settled this charge as failed",
    ),
}


def _decline_after_failure(row: Payment, decline: Rejected) -> None:
    """The decline a gateway reports for a payment failed without one
    (``WITHOUT_REASON``): stored on it (still failed) as a late decline, so
    the card's rule reads it. A recurring try's slot, if given back then (not
    found, settled): a retry of the period made since decides that period; if
    none was, the next run finds this try declined and stops the recurring
    charge, charging nothing."""
    kind, before = WITHOUT_REASON[row.failure_code]
    fields = decline_fields(decline)
    for name, value in fields.items():
        setattr(row, name, value)
    row.failure_learnt_at = learnt_at(row)
    payment_save(row, [*fields, "failure_learnt_at"])
    if row.saved_method_id is not None:
        card_lock(row.saved_method_id)  # as a failure's (state.advance)
    PaymentNote.objects.create(
        payment=row,
        kind=kind,
        title=f"Declined at the gateway ({row.failure_code}), after all",
        detail=f"{before}; the gateway then reported it declined. Still "
        "failed; the decline is kept.",
    )
    late_decline_keep(row, decline, "webhook")


def _paid_event(payment: Payment, change: Change) -> Payment:
    """Money moved on the gateway's word; a recurring slot's payment it had
    failed (not finally) undoes the stop of its recurring charge with it.
    One whose outcome was open may have charged its period twice."""
    with transaction.atomic():
        before = lock_payment(payment.pk).status
        row = advance(payment, change)
        if before == PaymentStatus.FAILED and row.status != PaymentStatus.FAILED:
            recurring_payment_paid(row)
        elif before not in MONEY_HOLDING_STATUSES and (
            row.status in MONEY_HOLDING_STATUSES
        ):
            period_charged(row)
    return row


def _refund_event(
    payment: Payment, amount: int | None, reference: str, *, total: bool = False
) -> Payment:
    """A refund the gateway reports.

    Per refund (a reference, ``total`` False): ``amount`` is that refund's;
    one already recorded under the reference counts nothing.

    Cumulative (``total``, or no reference): ``amount`` is everything refunded
    so far. Only what exceeds our booked refunds *and* our refunds still in
    flight (pending or unknown, whose success will be booked when their answer
    comes) is new, so a total is never counted twice, neither with a repeat
    or late event (a smaller total adds nothing) nor with a refund we made
    ourselves. A gateway refund made while one of ours is in flight is booked
    by the next total, once ours has settled.
    """
    if payment.status not in (
        PaymentStatus.CAPTURED,
        PaymentStatus.PARTIALLY_REFUNDED,
        PaymentStatus.REFUNDED,
    ):
        # A refund never stands in for a recurring try's capture.
        if recurring_refund_unpaid(payment, amount, reference):
            return Payment.objects.get(pk=payment.pk)
        # Only captured money can be refunded: the capture event is late.
        payment = payment_event_apply(payment=payment, kind="succeeded")
    with transaction.atomic():
        row = lock_payment(payment.pk)
        known = bool(reference) and (
            row.refunds.filter(provider_reference=reference).exists()
        )
        if reference and not total:
            if known:
                return row
            if row.refunds.filter(status__in=RESERVING, provider_reference="").exists():
                raise RefundAnswerPending(
                    "a refund of ours has no gateway reference yet", param="refund"
                )
            new = min(amount if amount is not None else row.refundable, row.refundable)
        else:
            reported = amount if amount is not None else row.amount_captured
            new = min(reported, row.amount_captured) - (
                row.amount_captured - refundable_amount(row)
            )
        if new <= 0:
            return row
        refund = refund_insert(
            Refund(
                payment=row,
                amount=new,
                currency=row.currency,
                status=RefundStatus.SUCCEEDED,
                provider_reference="" if known else reference[:255],
                reason="reported by the gateway",
                idempotency_key=f"event:{row.public_id}:"
                + (reference if reference and not total else uuid.uuid4().hex),
            )
        )
        refund_book(row, new, refund.public_id)
    return row


def _dispute_event(payment: Payment, *, opened: bool, provider_status: str) -> Payment:
    with transaction.atomic():
        row = lock_payment(payment.pk)
        target = DisputeStatus.OPEN if opened else DisputeStatus.CLOSED
        allowed = {DisputeStatus.NONE: {DisputeStatus.OPEN, DisputeStatus.CLOSED}}
        allowed[DisputeStatus.OPEN] = {DisputeStatus.CLOSED}
        if target not in allowed.get(row.dispute_status, set()):
            return row
        row.dispute_status = target
        payment_save(row, ["dispute_status"])
        emit_event(
            row,
            "payment.disputed",
            dispute="opened" if opened else "closed",
            provider_dispute_status=provider_status,
        )
    return row
