"""Every change to a payment. Keyword-only, one job each. Why there is never a
double charge, and the package's seams: docs/payments.md."""

from payments.services.attempts import KIND
from payments.services.create import payment_create
from payments.services.errors import (
    AmountExceedsCapturable,
    AmountExceedsRefundable,
    AuthorizationPending,
    ChargeOwned,
    FollowUpInProgress,
    GatewayRejected,
    GatewayUnavailable,
    InvalidState,
    KeyReused,
    OutcomePending,
    PanRefused,
    PaymentError,
    RefundAnswerPending,
    SettleRefused,
    UnderReview,
)
from payments.services.events import payment_event_apply
from payments.services.followups import payment_capture, payment_void
from payments.services.methods import payment_method_save, saved_method_charge
from payments.services.pan import looks_like_pan, pan_refuse
from payments.services.reconcile import payment_reconcile, payments_reconcile_pending
from payments.services.recurring import recurring_charges_report, recurring_charges_run
from payments.services.refunds import (
    payment_refund,
    payment_refundable,
    refund_cancel,
    refunds_retry_due,
)
from payments.services.review import payment_review_approve, payment_review_reject
from payments.services.settle import SETTLE_OUTCOMES, payment_settle_by_hand
from payments.services.state import RECONCILE_TASK, reconciliation_schedule

__all__ = [
    "KIND",
    "RECONCILE_TASK",
    "SETTLE_OUTCOMES",
    "AmountExceedsCapturable",
    "AmountExceedsRefundable",
    "AuthorizationPending",
    "ChargeOwned",
    "FollowUpInProgress",
    "GatewayRejected",
    "GatewayUnavailable",
    "InvalidState",
    "KeyReused",
    "OutcomePending",
    "PanRefused",
    "PaymentError",
    "RefundAnswerPending",
    "SettleRefused",
    "UnderReview",
    "looks_like_pan",
    "pan_refuse",
    "payment_capture",
    "payment_create",
    "payment_event_apply",
    "payment_method_save",
    "payment_reconcile",
    "payment_refund",
    "payment_refundable",
    "payment_review_approve",
    "payment_review_reject",
    "payment_settle_by_hand",
    "payment_void",
    "payments_reconcile_pending",
    "reconciliation_schedule",
    "recurring_charges_report",
    "recurring_charges_run",
    "refund_cancel",
    "refunds_retry_due",
    "saved_method_charge",
]
