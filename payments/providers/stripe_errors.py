"""Stripe SDK exceptions and signature failures as our errors. Messages are
Stripe's reason for a refusal, or fixed text: an authentication error's text
quotes the key."""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import requests
import stripe

from integrations.client import classify_exception, parse_retry_after
from integrations.errors import NotProcessed, ProviderError, Rejected, Unknown
from integrations.webhooks.verification import WebhookVerificationError
from payments.providers.base import (
    STOP_PAYMENT_ADVICE,
    Decline,
    advice_with_network,
)

SIGNATURE_HEADER = "Stripe-Signature"

# Stripe's decline_code (or error code) -> ours. Unlisted codes of a card
# error are a generic ``card_declined``.
DECLINE_MAP: Mapping[str, str] = {
    "insufficient_funds": "insufficient_funds",
    "withdrawal_count_limit_exceeded": "insufficient_funds",
    "expired_card": "expired_card",
    "invalid_expiry_month": "expired_card",
    "invalid_expiry_year": "expired_card",
    "incorrect_cvc": "incorrect_cvc",
    "invalid_cvc": "incorrect_cvc",
    "incorrect_number": "incorrect_number",
    "invalid_number": "incorrect_number",
    "lost_card": "lost_or_stolen",
    "stolen_card": "lost_or_stolen",
    "pickup_card": "lost_or_stolen",
    "fraudulent": "fraudulent",
    "merchant_blacklist": "fraudulent",
    "processing_error": "processing_error",
    "issuer_not_available": "processing_error",
    "reenter_transaction": "processing_error",
    "try_again_later": "processing_error",
    "authentication_required": "authentication_required",
    "payment_intent_authentication_failure": "authentication_required",
    # The cardholder revoked our mandate or ordered their bank to stop paying us.
    "revocation_of_authorization": "stop_payment",
    "revocation_of_all_authorizations": "stop_payment",
    "stop_payment_order": "stop_payment",
}


def map_stripe_error(exc: Exception) -> ProviderError | None:
    """A Stripe SDK exception as our error. Messages are Stripe's reason for a
    refusal, or fixed text: an authentication error's text quotes the key."""
    if not isinstance(exc, stripe.StripeError):
        return None
    status = exc.http_status
    if isinstance(exc, stripe.APIConnectionError):
        cause = exc.__cause__
        if isinstance(cause, requests.RequestException):
            # Whether the request left decides between not_processed and unknown.
            return classify_exception(cause)
        return Unknown("connection to Stripe failed", code="connection_reset")
    if isinstance(exc, stripe.CardError):
        return _card_error(exc)
    if isinstance(exc, stripe.IdempotencyError):
        return Rejected(
            "Stripe refused a reused idempotency key with different parameters",
            code="idempotency_conflict",
            http_status=status,
            provider_code="idempotency_error",
        )
    if isinstance(exc, stripe.RateLimitError):
        return NotProcessed(
            "Stripe rate limit reached",
            code="too_many_requests",
            http_status=status,
            retry_after=_retry_after(exc),
            provider_code=_error_code(exc),
        )
    if isinstance(exc, stripe.AuthenticationError):
        return NotProcessed(
            "Stripe rejected the secret key",
            code="authentication_failed",
            http_status=status,
        )
    if isinstance(exc, stripe.PermissionError):
        return NotProcessed(
            "the Stripe key lacks permission for this request",
            code="permission_denied",
            http_status=status,
        )
    if isinstance(exc, stripe.InvalidRequestError):
        return Rejected(
            exc.user_message or "Stripe rejected the request",
            code="not_found" if status == 404 else "bad_request",
            http_status=status,
            provider_code=_error_code(exc),
        )
    return _api_error(exc)


def _card_error(exc: stripe.CardError) -> Rejected:
    error = exc.error
    return stripe_decline(
        {
            "message": exc.user_message,
            "code": exc.code,
            "decline_code": getattr(error, "decline_code", None) if error else None,
            "advice_code": getattr(error, "advice_code", None) if error else None,
            "network_advice_code": (
                getattr(error, "network_advice_code", None) if error else None
            ),
        },
        http_status=exc.http_status,
    )


def stripe_decline(
    error: Mapping[str, Any], *, http_status: int | None = None
) -> Decline:
    """Stripe's card error (a CardError's, or a PaymentIntent's
    ``last_payment_error``) as our decline: the one translation of both."""
    decline_code = str(error.get("decline_code") or "")
    code = str(error.get("code") or "")
    network_advice = str(error.get("network_advice_code") or "")
    ours = DECLINE_MAP.get(decline_code) or DECLINE_MAP.get(code) or "card_declined"
    if network_advice == STOP_PAYMENT_ADVICE:
        ours = "stop_payment"
    # Stripe's own advice first; the card network's when Stripe gives none
    # (or its wait, more precise than Stripe's try_again_later).
    advice = advice_with_network(str(error.get("advice_code") or ""), network_advice)
    return Decline(
        str(error.get("message") or "") or "the card was declined",
        code=ours,
        http_status=http_status,
        provider_code=decline_code or code or "card_declined",
        advice_code=advice,
    )


def _api_error(exc: stripe.StripeError) -> ProviderError:
    status = exc.http_status
    if status == 409:
        # Another request with this key is still running at Stripe: it may
        # take effect, and a retry with the same key is answered by replay.
        return Unknown(
            "Stripe is still processing a request with this idempotency key",
            code="idempotency_key_in_use",
            http_status=status,
            retry_after=_retry_after(exc),
            provider_code=_error_code(exc),
        )
    if status is not None and status >= 500:
        return Unknown(
            "Stripe answered with a server error",
            code="server_error",
            http_status=status,
            retry_after=_retry_after(exc),
            provider_code=_error_code(exc),
        )
    if status is None or status < 400 or exc.error is None:
        # A body that is not JSON, or JSON without Stripe's error object: the
        # request may have been acted on before the response broke.
        return Unknown(
            "Stripe sent a malformed response",
            code="malformed_response",
            http_status=status,
        )
    return Rejected(
        exc.user_message or "Stripe rejected the request",
        code="client_error",
        http_status=status,
        provider_code=_error_code(exc),
    )


def _error_code(exc: stripe.StripeError) -> str | None:
    return exc.code or (exc.error.code if exc.error else None) or None


def _retry_after(exc: stripe.StripeError) -> float | None:
    headers = exc.headers or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    return parse_retry_after(value, now=datetime.now(UTC).timestamp())


def signature_error(
    exc: stripe.SignatureVerificationError,
) -> WebhookVerificationError:
    text = exc.user_message or ""
    if text.startswith("Timestamp outside the tolerance zone"):
        return WebhookVerificationError(
            "The Stripe-Signature timestamp is outside the tolerance.",
            code=WebhookVerificationError.STALE,
            param=SIGNATURE_HEADER,
        )
    if text.startswith(("Unable to extract", "No signatures found with expected")):
        return WebhookVerificationError(
            "The Stripe-Signature header is malformed.",
            code=WebhookVerificationError.MALFORMED,
            param=SIGNATURE_HEADER,
        )
    return WebhookVerificationError(
        "No Stripe signature matches the request.",
        code=WebhookVerificationError.FORGED,
        param=SIGNATURE_HEADER,
    )
