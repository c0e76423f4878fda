"""PayPal's error answers (Orders v2 / Payments v2 ``details[].issue`` and
processor response codes) as our errors."""

from collections.abc import Callable, Mapping
from typing import Any

import requests

from integrations.client import STATUS_CODES, response_json
from integrations.errors import ProviderError, Rejected, Unknown
from payments.providers.base import NETWORK_ADVICE, STOP_PAYMENT_ADVICE, Decline

# Error ``issue`` codes (422 details) -> our decline codes.
DECLINE_ISSUES: Mapping[str, str] = {
    "INSTRUMENT_DECLINED": "card_declined",
    "PAYER_CANNOT_PAY": "card_declined",
    "TRANSACTION_REFUSED": "card_declined",
    "AUTHORIZATION_DENIED": "card_declined",
    "DECLINED_DUE_TO_RELATED_TXN": "card_declined",
    "REDIRECT_PAYER_FOR_ALTERNATE_FUNDING": "card_declined",
    "PAYER_ACCOUNT_RESTRICTED": "card_declined",
    "PAYER_ACCOUNT_LOCKED_OR_CLOSED": "card_declined",
    "TRANSACTION_LIMIT_EXCEEDED": "card_declined",
    "MAX_NUMBER_OF_PAYMENT_ATTEMPTS_EXCEEDED": "card_declined",
    "CARD_BRAND_NOT_SUPPORTED": "card_declined",
    "REFERENCED_CARD_EXPIRED": "expired_card",
    "INVALID_SECURITY_CODE_LENGTH": "incorrect_cvc",
    "COMPLIANCE_VIOLATION": "fraudulent",
    "PAYEE_BLOCKED_TRANSACTION": "fraudulent",
    "TRANSACTION_BLOCKED_BY_PAYEE": "fraudulent",
    "PAYER_ACTION_REQUIRED": "authentication_required",
}
# Other business refusals worth a code of their own.
OTHER_ISSUES: Mapping[str, str] = {
    "DUPLICATE_INVOICE_ID": "duplicate_transaction",
    "ORDER_NOT_APPROVED": "not_approved",
    "ORDER_EXPIRED": "expired",
    "ORDER_ALREADY_CAPTURED": "already_captured",
    "ORDER_ALREADY_AUTHORIZED": "already_authorized",
    "ACTION_DOES_NOT_MATCH_INTENT": "intent_mismatch",
    "AUTHORIZATION_VOIDED": "already_voided",
    "PREVIOUSLY_VOIDED": "already_voided",
    "PREVIOUSLY_CAPTURED": "already_captured",
    "CAPTURE_FULLY_REFUNDED": "already_refunded",
    "REFUND_AMOUNT_EXCEEDED": "amount_too_large",
    "AUTHORIZATION_AMOUNT_EXCEEDED": "amount_too_large",
    "REFUND_TIME_LIMIT_EXCEEDED": "refund_window_closed",
    "INVALID_CURRENCY_CODE": "currency_not_supported",
    "CURRENCY_NOT_SUPPORTED": "currency_not_supported",
    "DECIMALS_NOT_SUPPORTED": "invalid_amount",
    "DECIMAL_PRECISION": "invalid_amount",
}
# ``processor_response.response_code`` of a DECLINED/FAILED capture -> ours.
PROCESSOR_CODES: Mapping[str, str] = {
    "0500": "card_declined",  # DO_NOT_HONOR
    "5100": "card_declined",  # GENERIC_DECLINE
    "9540": "card_declined",  # REFUSED_CARD
    "5120": "insufficient_funds",
    "5400": "expired_card",
    "5110": "incorrect_cvc",  # CVV2_FAILURE
    "00N7": "incorrect_cvc",
    "PCVV": "incorrect_cvc",
    "1330": "incorrect_number",  # INVALID_ACCOUNT
    "9500": "fraudulent",  # SUSPECTED_FRAUD
    "9520": "lost_or_stolen",
    "5650": "authentication_required",  # DECLINED_SCA_REQUIRED
}
FAILED_STATUSES = ("DECLINED", "FAILED", "DENIED")

BodyCheck = Callable[[dict[str, Any]], ProviderError | None]


def decline(resource: Mapping[str, Any]) -> Rejected:
    """The decline a DECLINED/FAILED capture or authorization carries."""
    processor = resource.get("processor_response") or {}
    response_code = str(processor.get("response_code", ""))
    advice = str(processor.get("payment_advice_code", ""))
    reason = str((resource.get("status_details") or {}).get("reason", ""))
    code = PROCESSOR_CODES.get(response_code, "card_declined")
    return Decline(
        "PayPal declined the payment",
        code="stop_payment" if advice == STOP_PAYMENT_ADVICE else code,
        provider_code=response_code or reason or str(resource.get("status", "")),
        # processor_response.payment_advice_code: the card network's advice.
        advice_code=NETWORK_ADVICE.get(advice, ""),
    )


def declined_capture(capture: dict[str, Any]) -> ProviderError | None:
    if capture.get("status") in ("DECLINED", "FAILED"):
        return decline(capture)
    return None


def paypal_error_map(
    check: BodyCheck | None = None, *, allow_empty: bool = False
) -> Callable[[requests.Response], ProviderError | None]:
    """The error table for one call: PayPal's 4xx bodies, and ``check`` on a
    2xx body (a capture answered 201 may still be DECLINED)."""

    def classify(response: requests.Response) -> ProviderError | None:
        status = response.status_code
        if status < 400:
            if check is None or (allow_empty and not response.content):
                return None
            body = response_json(response)
            return check(body) if isinstance(body, dict) else None
        if status in (401, 403, 429) or status >= 500:
            return None  # the client's default mapping (Retry-After included)
        return client_error(response)

    return classify


def client_error(response: requests.Response) -> ProviderError | None:
    """A 4xx answer as ours; None for a body we cannot read."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    name = str(body.get("name") or body.get("error") or "")
    details = body.get("details")
    first = details[0] if isinstance(details, list) and details else {}
    first = first if isinstance(first, dict) else {}
    issue = str(first.get("issue", ""))
    status = response.status_code
    provider_code = issue or name or None
    if status == 409:
        return _conflict(issue, status, provider_code)
    code = DECLINE_ISSUES.get(issue) or OTHER_ISSUES.get(issue)
    if code is None:
        code = STATUS_CODES.get(status, (Rejected, "client_error"))[1]
    description = str(first.get("description", ""))
    return Rejected(
        description or str(body.get("message") or "PayPal refused the request"),
        code=code,
        http_status=status,
        provider_code=provider_code,
    )


def _conflict(issue: str, status: int, provider_code: str | None) -> ProviderError:
    if issue == "PREVIOUS_REQUEST_IN_PROGRESS":
        # The first request with this PayPal-Request-Id is still running.
        return Unknown(
            "PayPal is still processing an earlier request with this id",
            code="request_in_progress",
            http_status=status,
            provider_code=provider_code,
        )
    return Rejected(
        "PayPal reported a conflicting request",
        code="idempotency_conflict",
        http_status=status,
        provider_code=provider_code,
    )
