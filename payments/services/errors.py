"""Errors the API turns into answers."""


class PaymentError(Exception):
    """A request the payment's state or the input does not allow."""

    code = "payment_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str = "",
        provider_code: str = "",
    ):
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.param = param
        # The gateway's own code (checked by messages.provider_code_of).
        self.provider_code = provider_code


class PanRefused(PaymentError, ValueError):
    """A raw card number was sent. The message never contains it."""

    code = "pan_not_allowed"


class InvalidState(PaymentError):
    code = "invalid_state"


class KeyReused(PaymentError):
    """An idempotency key already used for another request: the API answers
    422, as its own check of a reused key within the key's lifetime."""

    code = "idempotency_key_reused"


class FollowUpInProgress(InvalidState):
    """Another request's capture or void of the payment is unfinished
    (``capture_in_progress`` / ``void_in_progress``): not sent, not the
    request's final answer (an Idempotency-Key does not store it)."""

    code = "capture_in_progress"


class OutcomePending(InvalidState):
    """The payment is ``unknown``: a gateway call's outcome is open until
    reconciliation settles it. True only until then, so its code is an
    ``*_in_progress`` one: an Idempotency-Key does not store it."""

    code = "reconciliation_in_progress"


# OutcomePending's code once reconciliation could not settle the payment by
# itself: it waits for staff, who check it at the gateway (not stored either).
STAFF_REVIEW = "staff_review_in_progress"
# InvalidState's code once staff acknowledged such a payment still unknown:
# they settle it at the gateway, nothing here will; a final, stored answer.
LEFT_TO_STAFF = "outcome_unknown"


class AuthorizationPending(InvalidState):
    """The payment is not authorized yet (``pending``: the create's answer is
    awaited; ``requires_action``: the customer's 3-D Secure): a capture (or a
    void of a pending one) is refused only until it is. An ``*_in_progress``
    code: an Idempotency-Key does not store it."""

    code = "authorization_in_progress"


class UnderReview(InvalidState):
    """The storefront asked to capture a payment held for fraud review: only
    staff's approve captures it. An ``*_in_progress`` code: true until staff
    decide, so an Idempotency-Key does not store it."""

    code = "fraud_review_in_progress"


class SettleRefused(InvalidState):
    """Staff's outcome for an ``unknown`` payment was not applied: the gateway
    contradicts it, or could not be asked. ``said``: the gateway's answer for
    staff, secrets masked (never the storefront's)."""

    code = "settle_refused"

    def __init__(self, message: str, *, said: str = "", **kwargs: str) -> None:
        super().__init__(message, **kwargs)
        self.said = said


class ChargeOwned(InvalidState):
    """The charge staff named belongs to another payment (one owner per
    account and reference)."""

    code = "charge_owned"


class AmountExceedsRefundable(PaymentError):
    code = "amount_exceeds_refundable"


class AmountExceedsCapturable(PaymentError):
    code = "amount_exceeds_capturable"


class GatewayRejected(PaymentError):
    """The gateway refused a follow-up operation (capture, void, refund)."""


class RefundAnswerPending(PaymentError):
    """A gateway refund event arrived while one of our refunds still waits for
    the gateway's answer: it may be that very refund, so it is applied later
    (the webhook is retried with back-off) instead of being counted twice."""

    code = "refund_answer_pending"


class GatewayUnavailable(PaymentError):
    """No gateway could be reached; nothing was done, retry later."""

    code = "no_provider_available"
