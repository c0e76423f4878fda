"""What the storefront is told about a failure: our own message per error
code, never the provider's text (which may quote what we sent, credentials
included). The provider's text is kept for staff on the payment's timeline,
with every account's known secrets masked."""

import re
from datetime import UTC, datetime, timedelta

from integrations.errors import ProviderError, public_provider_code
from integrations.secrets_registry import known_secrets, redact_secrets
from payments.models import Payment, PaymentNote
from payments.providers.base import RETRY_AFTER

MESSAGES: dict[str, str] = {
    "card_declined": "The card was declined.",
    "insufficient_funds": "The card has insufficient funds.",
    "expired_card": "The card has expired.",
    "incorrect_cvc": "The card's security code is incorrect.",
    "incorrect_number": "The card number is incorrect.",
    "lost_or_stolen": "The card was declined.",
    "fraudulent": "The card was declined.",
    "processing_error": "The card could not be processed; try again.",
    "authentication_required": "The card needs the customer's authentication.",
    "stop_payment": (
        "The cardholder has stopped payments to this shop from the card; "
        "use another payment method."
    ),
    # Refused unsent: the card's earlier decline is final (services.card_rule).
    "payment_method_declined": (
        "The card was declined earlier in a way a retry does not change; "
        "use another payment method."
    ),
    # Refused unsent inside the card network's retry wait (services.slots);
    # the stored message names the wait's end.
    "card_retry_wait": (
        "The card network asked us not to charge this card again yet; "
        "try again later, or use another payment method."
    ),
    "not_found": "The gateway does not know this payment source.",
    "currency_not_supported": "The gateway does not accept this currency.",
    "invalid_amount": "The gateway does not accept this amount in this currency.",
    "not_approved": "The customer has not approved the payment yet.",
    "expired": "The approval for this payment has expired; start a new one.",
    "already_captured": "The approved payment was charged already.",
    "duplicate_transaction": (
        "The gateway refused the payment as a duplicate of a recent one."
    ),
    "invalid_request": "The gateway refused the request as invalid.",
    "order_mismatch": "The approved payment was made for another order.",
    "amount_mismatch": "The approved payment is for another amount or currency.",
    "intent_mismatch": (
        "The approved payment was set up for another action "
        "(capture at once, or authorize only)."
    ),
    "refund_failed": "The gateway refused the refund.",
    "already_refunded": "The payment was refunded in full already.",
    "amount_too_large": "The amount is more than the gateway can refund.",
    "refund_window_closed": "The gateway no longer refunds this payment.",
    "no_provider_available": "No payment gateway could be reached.",
    "outcome_unknown": "The gateway did not answer; reconciling.",
    "failed_at_provider": "The gateway reports the payment failed.",
}
_ADVICE = re.compile(r"[a-z][a-z_]{0,31}")
DEFAULT_MESSAGE = "The payment gateway refused the request."

# The card's refusals (the fraud screen's ``payment_blocked`` too): a 402 of
# type ``card_error``. Any other refusal is the request's, its source's or
# its order's: ``invalid_request_error``.
CARD_CODES = frozenset(
    {
        "card_declined",
        "insufficient_funds",
        "expired_card",
        "incorrect_cvc",
        "incorrect_number",
        "lost_or_stolen",
        "fraudulent",
        "processing_error",
        "authentication_required",
        "stop_payment",
        "payment_method_declined",
        "card_retry_wait",
        "payment_blocked",
        # The gateway's "failed" with no reason given: taken as a decline.
        "payment_failed",
        "failed_at_provider",
    }
)


def refusal_type(code: str) -> str:
    """The API ``type`` of a gateway's refusal (a 402) with ``code``."""
    return "card_error" if code in CARD_CODES else "invalid_request_error"


def public_message(code: str) -> str:
    """Our message for ``code``; the same for every gateway."""
    return MESSAGES.get(code, DEFAULT_MESSAGE)


def retry_wait_message(until: datetime) -> str:
    """Our message for a charge refused inside the card network's wait,
    naming its end (UTC, rounded up to the minute: never inside it)."""
    # Up, microseconds too: the end is a database time plus whole hours.
    until = until.astimezone(UTC)
    start = until.replace(second=0, microsecond=0)
    ends = start if start == until else start + timedelta(minutes=1)
    return (
        "The card network asked us not to charge this card again before "
        f"{ends:%Y-%m-%d %H:%M} UTC; try again then, or use another payment method."
    )


def provider_code_of(error: ProviderError) -> str:
    """The provider's own code for ``error``, if it is a plain code that
    quotes no known secret; else empty."""
    return public_provider_code(error)


def advice_code_of(error: ProviderError) -> str:
    """The gateway's advice on trying the card again (``Decline``), if it is
    a plain word; else empty. Staff's, not the storefront's."""
    # A failover run's refusal carries the adapter's decline as its cause.
    decline = getattr(error, "cause", None) or error
    advice = str(getattr(decline, "advice_code", "") or "")
    # The networks' waits name their time in digits (RETRY_AFTER).
    return advice if _ADVICE.fullmatch(advice) or advice in RETRY_AFTER else ""


def decline_fields(error: ProviderError) -> dict[str, str]:
    """A failed payment's failure fields for ``error``: one translation,
    whether the create call's answer or a webhook or look-up reported it."""
    return {
        "failure_code": error.code[:64],
        "failure_message": public_message(error.code),
        "failure_provider_code": provider_code_of(error),
        "failure_advice_code": advice_code_of(error),
    }


def provider_text_keep(payment: Payment, error: ProviderError, operation: str) -> None:
    """The provider's own words, secrets masked, on the timeline for staff."""
    secrets = known_secrets(fresh=True)
    text = redact_secrets(error.message, secrets)
    provider_code = redact_secrets(
        str(getattr(error, "provider_code", "") or ""), secrets
    )
    PaymentNote.objects.create(
        payment=payment,
        kind="provider_message",
        title=f"{operation}: {error.code}"
        + (f" ({provider_code[:64]})" if provider_code else ""),
        detail=text[:500],
    )


def late_decline_keep(
    payment: Payment, decline: ProviderError | None, learnt_by: str
) -> None:
    """A decline learnt after the create (``learnt_by``: a webhook, a
    look-up) that failed ``payment``: its words on the timeline, as a
    synchronous decline's are (``mark_failed``)."""
    if decline is not None:
        provider_text_keep(payment, decline, f"authorize, by {learnt_by}")
