"""Every change to a payment. Keyword-only, one job each.

Never a double charge:

- a gateway is called only after the ``PaymentAttempt`` holding the
  idempotency key it will be sent is committed; the key is fixed per
  (payment, account, operation), so any retry reuses it;
- failover moves on only after ``not_processed``; a decline is final
  (``failed``); ``unknown`` stops everything, sets the payment ``unknown`` and
  schedules reconciliation, which asks the gateway by reference or key;
- no gateway call runs inside a database transaction: a rollback must not
  forget what a gateway did.

Status changes go through ``advance`` under a row lock, only along
``TRANSITIONS``, with their outbox event in the same transaction.

The package, by seam (each module imports only those above it):

- ``errors``: what the API turns into answers;
- ``pan``: the raw card number guard;
- ``state``: ``advance`` and the outcomes every gateway call shares;
- ``attempts``: the stored, keyed attempt around every gateway call;
- ``followups``: capture, void, review;
- ``refunds``;
- ``create``: screening, authorization with failover, the capture owed;
- ``reconcile``: asking the gateway about open outcomes;
- ``methods``: saved methods, merchant-initiated and recurring charges;
- ``events``: provider events (webhooks).

Import from ``payments.services``: the names below are its public surface.
"""

from payments.services.attempts import KIND
from payments.services.create import payment_create
from payments.services.errors import (
    AmountExceedsCapturable,
    AmountExceedsRefundable,
    GatewayRejected,
    GatewayUnavailable,
    InvalidState,
    PanRefused,
    PaymentError,
    RefundAnswerPending,
)
from payments.services.events import payment_event_apply
from payments.services.followups import (
    payment_capture,
    payment_review_approve,
    payment_review_reject,
    payment_void,
)
from payments.services.methods import (
    payment_method_save,
    recurring_charges_run,
    saved_method_charge,
)
from payments.services.pan import looks_like_pan, pan_refuse
from payments.services.reconcile import payment_reconcile, payments_reconcile_pending
from payments.services.refunds import payment_refund, payment_refundable
from payments.services.state import RECONCILE_TASK, reconciliation_schedule

__all__ = [
    "KIND",
    "RECONCILE_TASK",
    "AmountExceedsCapturable",
    "AmountExceedsRefundable",
    "GatewayRejected",
    "GatewayUnavailable",
    "InvalidState",
    "PanRefused",
    "PaymentError",
    "RefundAnswerPending",
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
    "payment_void",
    "payments_reconcile_pending",
    "reconciliation_schedule",
    "recurring_charges_run",
    "saved_method_charge",
]
