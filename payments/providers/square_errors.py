"""Square's ``errors`` array as our errors."""

from collections.abc import Mapping
from typing import Any

import requests

from integrations.errors import NotProcessed, ProviderError, Rejected, Unknown

DECLINE_MAP: Mapping[str, str] = {
    "GENERIC_DECLINE": "card_declined",
    "CARD_DECLINED": "card_declined",
    "CARD_DECLINED_CALL_ISSUER": "card_declined",
    "CARD_NOT_SUPPORTED": "card_declined",
    "CARDHOLDER_INSUFFICIENT_PERMISSIONS": "card_declined",
    "TRANSACTION_LIMIT": "card_declined",
    "VOICE_FAILURE": "card_declined",
    "ADDRESS_VERIFICATION_FAILURE": "card_declined",
    "ALLOWABLE_PIN_TRIES_EXCEEDED": "card_declined",
    "INVALID_PIN": "card_declined",
    "PAYMENT_LIMIT_EXCEEDED": "card_declined",
    "READER_DECLINED": "card_declined",
    "INSUFFICIENT_FUNDS": "insufficient_funds",
    "GIFT_CARD_AVAILABLE_AMOUNT": "insufficient_funds",
    "CVV_FAILURE": "incorrect_cvc",
    "VERIFY_CVV_FAILURE": "incorrect_cvc",
    "CARD_EXPIRED": "expired_card",
    "EXPIRATION_FAILURE": "expired_card",
    "INVALID_EXPIRATION": "expired_card",
    "INVALID_EXPIRATION_DATE": "expired_card",
    "INVALID_EXPIRATION_YEAR": "expired_card",
    "BAD_EXPIRATION": "expired_card",
    "PAN_FAILURE": "incorrect_number",
    "INVALID_CARD": "incorrect_number",
    "INVALID_CARD_DATA": "incorrect_number",
    # "The issuer was not able to locate the account on record": final, as
    # Braintree's 2007 No Account (a hard decline there).
    "INVALID_ACCOUNT": "incorrect_number",
    "CARD_DECLINED_VERIFICATION_REQUIRED": "authentication_required",
}
AUTH_CODES = frozenset(
    {"UNAUTHORIZED", "ACCESS_TOKEN_EXPIRED", "ACCESS_TOKEN_REVOKED", "V1_ACCESS_TOKEN"}
)
PERMISSION_CODES = frozenset({"FORBIDDEN", "INSUFFICIENT_SCOPES"})


def map_square_response(response: requests.Response) -> ProviderError | None:
    """Square's ``errors`` array as our error; None leaves a response to the
    client's default mapping (success, 429, 5xx, or a body we cannot read)."""
    status = response.status_code
    if status < 400 or status == 429 or status >= 500:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return None
    return _error_from(errors[0], status)


def payment_decline(payment: Mapping[str, Any]) -> Rejected | None:
    """The decline a FAILED Payment's ``card_details.errors`` records, as the
    create call's 402 answer with that error is translated; None when it
    names no decline."""
    errors = (payment.get("card_details") or {}).get("errors") or []
    for error in errors:
        if isinstance(error, Mapping) and error.get("code") in DECLINE_MAP:
            decline = _error_from(error, 402)
            return decline if isinstance(decline, Rejected) else None
    return None


def _error_from(error: Mapping[str, Any], status: int) -> ProviderError:
    code = str(error.get("code") or "")
    detail = str(error.get("detail") or "Square rejected the request")
    if code in AUTH_CODES or status == 401:
        return NotProcessed(
            "Square rejected the access token",
            code="authentication_failed",
            http_status=status,
            provider_code=code,
        )
    if code in PERMISSION_CODES or status == 403:
        return NotProcessed(
            "the Square access token lacks permission for this request",
            code="permission_denied",
            http_status=status,
            provider_code=code,
        )
    if code == "TEMPORARY_ERROR":
        # Square: "safely retry using the same idempotency key".
        return Unknown(
            "Square reported a temporary error",
            code="server_error",
            http_status=status,
            provider_code=code,
        )
    if code in DECLINE_MAP:
        our_code = DECLINE_MAP[code]
    elif code == "IDEMPOTENCY_KEY_REUSED":
        our_code = "idempotency_conflict"
    elif code == "NOT_FOUND" or status == 404:
        our_code = "not_found"
    else:
        our_code = "bad_request"
    return Rejected(detail, code=our_code, http_status=status, provider_code=code)
