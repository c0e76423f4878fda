"""The Braintree SDK on the shared client: its HTTP strategy sending through
the account's session, and its exceptions and refusals as our errors."""

import re
import time
from base64 import b64decode
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs
from xml.parsers.expat import ExpatError

import requests
from braintree.exceptions import (
    AuthenticationError,
    AuthorizationError,
    GatewayTimeoutError,
    NotFoundError,
    RequestTimeoutError,
    ServerError,
    ServiceUnavailableError,
    TooManyRequestsError,
    UnexpectedError,
    UpgradeRequiredError,
)
from braintree.exceptions.configuration_error import (
    ConfigurationError as BraintreeConfigurationError,
)
from braintree.util.crypto import Crypto
from braintree.util.http import Http
from braintree.util.xml_util import XmlUtil
from braintree.webhook_notification import WebhookNotification

from integrations import registry
from integrations.client import parse_retry_after
from integrations.errors import (
    ConfigurationError,
    NotProcessed,
    ProviderError,
    Rejected,
    Unknown,
)
from integrations.webhooks.messages import signature_text
from integrations.webhooks.verification import (
    StoredBodyNotReadable,
    WebhookVerificationError,
)
from payments.providers.base import (
    DO_NOT_TRY_AGAIN,
    NETWORK_ADVICE,
    STOP_PAYMENT_ADVICE,
    Decline,
    ProviderStatus,
)

# https://developer.paypal.com/braintree/articles/control-panel/transactions/declines
PROCESSOR_CODES: Mapping[str, str] = {
    "2000": "card_declined",  # Do Not Honor
    "2001": "insufficient_funds",
    "2002": "insufficient_funds",  # Limit Exceeded
    "2003": "card_declined",  # Cardholder's Activity Limit Exceeded
    "2004": "expired_card",
    "2005": "incorrect_number",
    "2006": "card_declined",  # Invalid Expiration Date
    "2007": "incorrect_number",  # No Account
    "2008": "incorrect_number",  # Card Account Length Error
    "2009": "incorrect_number",  # No Such Issuer (hard)
    "2010": "incorrect_cvc",  # Card Issuer Declined CVV
    "2012": "lost_or_stolen",
    "2013": "lost_or_stolen",
    "2014": "fraudulent",
    "2017": "stop_payment",  # Cardholder Stopped Billing
    "2018": "stop_payment",  # Cardholder Stopped All Billing
    "2047": "lost_or_stolen",  # Call Issuer. Pick Up Card
    "2053": "lost_or_stolen",
    "2070": "stop_payment",  # PayPal Buyer Revoked Pre-Approved Payment Authorization
    "2099": "authentication_required",
    "2108": "incorrect_number",  # Closed Card (hard)
}
# Declines Braintree's table names final for the card though no reason of
# ours fits: 2043 "Error - Do Not Retry, Call Issuer", 2044 "Declined - Call
# Issuer" (a hard decline: only the cardholder's call to the bank mends it),
# 2022 "Declined - Updated Cardholder Available" (a new card was issued;
# Mastercard forbids retrying it); 2015 "Transaction Not Allowed", 2019
# "Invalid Transaction", 2020 "Violation", 2021 "Security Violation" (its
# authorization responses table: Hard); 2023 "Processor Does Not Support
# This Feature", 2024 "Card Type Not Enabled" (Hard: the merchant account
# cannot take that feature or card type, so a retry is declined again).
DO_NOT_RETRY = frozenset(
    {"2015", "2019", "2020", "2021", "2022", "2023", "2024", "2043", "2044"}
)
GATEWAY_REJECTIONS: Mapping[str, str] = {
    "cvv": "incorrect_cvc",
    "avs": "card_declined",
    "avs_and_cvv": "card_declined",
    "fraud": "fraudulent",
    "risk_threshold": "fraudulent",
    "three_d_secure": "authentication_required",
    "excessive_retry": "card_declined",
    "duplicate": "duplicate_transaction",
    "application_incomplete": "processing_error",
    "token_issuance": "processing_error",
}
VALIDATION_CODES: Mapping[str, str] = {
    "915232": "idempotency_conflict",  # key reused with another request
    "915234": "idempotency_conflict",  # key reused after a failed request
    "91506": "not_settled",  # refund before settlement: void instead
    "91504": "invalid_amount",
    "91505": "already_refunded",
    "91521": "amount_too_large",  # refund above the settled amount
    "91522": "not_voidable",
    "91507": "not_capturable",
    "91511": "not_capturable",
}
IN_FLIGHT_CODES = frozenset({"915233", "915235"})
CAPTURED_STATUSES = frozenset(
    {
        "submitted_for_settlement",
        "settling",
        "settlement_pending",
        "settlement_confirmed",
        "settled",
    }
)
FAILED_STATUSES = frozenset(
    {
        "processor_declined",
        "gateway_rejected",
        "failed",
        "settlement_declined",
        "authorization_expired",
    }
)
# The request reached Braintree and may have been acted on.
_SERVER_ERRORS: Mapping[type[Exception], int] = {
    ServerError: 500,
    ServiceUnavailableError: 503,
    GatewayTimeoutError: 504,
    RequestTimeoutError: 408,
}
_HTTP_STATUS = re.compile(r"HTTP_RESPONSE (\d{3})")


class SessionHttp(Http):
    """The SDK's ``Http`` sending through a given ``requests.Session``."""

    def __init__(
        self, config: Any, environment: Any = None, *, session: requests.Session
    ) -> None:
        super().__init__(config, environment)
        self.session = session
        # The SDK raises TooManyRequestsError without the response: keep the
        # Retry-After here so the error can carry it.
        self.retry_after: float | None = None

    def http_do(
        self, http_verb: str, path: str, headers: dict, request_body: Any
    ) -> list:
        data, files = request_body, None
        if isinstance(request_body, tuple):
            data, files = request_body
        response = self.session.request(
            http_verb,
            path,
            headers=headers,
            data=data,
            files=files,
            # The SDK pins Braintree's certificate authorities.
            verify=self.environment.ssl_certificate,
            timeout=self.config.timeout,
        )
        if response.status_code == 429:
            self.retry_after = parse_retry_after(
                response.headers.get("Retry-After"), now=time.time()
            )
        return [response.status_code, response.text]


def session_strategy(session: requests.Session) -> Callable[..., SessionHttp]:
    """An ``http_strategy`` for ``braintree.Configuration``."""

    def build(config: Any, environment: Any = None) -> SessionHttp:
        return SessionHttp(config, environment, session=session)

    return build


def map_exception(exc: Exception) -> ProviderError | None:
    """Braintree SDK exceptions -> our errors (``requests`` ones keep the
    client's default mapping)."""
    if isinstance(exc, AuthenticationError):
        return NotProcessed(
            "Braintree refused the API keys",
            code="authentication_failed",
            http_status=401,
        )
    if isinstance(exc, AuthorizationError):
        return NotProcessed(
            "Braintree keys lack permission", code="permission_denied", http_status=403
        )
    if isinstance(exc, TooManyRequestsError):
        return NotProcessed(
            "Braintree rate limit reached", code="too_many_requests", http_status=429
        )
    if isinstance(exc, UpgradeRequiredError):
        return ConfigurationError(
            "Braintree requires a newer SDK", code="upgrade_required"
        )
    if isinstance(exc, BraintreeConfigurationError):
        return ConfigurationError("Braintree configuration is invalid")
    if isinstance(exc, NotFoundError):
        return Rejected(
            "Braintree has no such object", code="not_found", http_status=404
        )
    status = _SERVER_ERRORS.get(type(exc))
    if status is not None:
        return Unknown(
            "Braintree failed while handling the request",
            code="server_error",
            http_status=status,
        )
    if isinstance(exc, UnexpectedError):
        return _unexpected(exc)
    if isinstance(exc, ExpatError):
        return Unknown("Braintree sent a malformed response", code="malformed_response")
    return None


def _unexpected(exc: UnexpectedError) -> ProviderError:
    match = _HTTP_STATUS.search(str(exc))
    status = int(match.group(1)) if match else None
    if status is not None and 400 <= status < 500:
        code = {400: "bad_request", 402: "payment_required"}.get(status, "client_error")
        return Rejected(
            f"Braintree answered HTTP {status}", code=code, http_status=status
        )
    return Unknown(
        "Braintree answered unexpectedly", code="server_error", http_status=status
    )


# --- Results -------------------------------------------------------------------------


def refusal(result: Any) -> ProviderError:
    """The error for a result with ``is_success`` False."""
    for attempt in (
        getattr(result, "transaction", None),
        getattr(result, "credit_card_verification", None),
    ):
        if attempt is not None and getattr(attempt, "status", "") in FAILED_STATUSES:
            return _decline(
                attempt.status,
                getattr(attempt, "processor_response_code", None),
                getattr(attempt, "gateway_rejection_reason", None),
                getattr(attempt, "processor_response_text", None) or result.message,
                getattr(attempt, "merchant_advice_code", None),
            )
    errors = result.errors.deep_errors if getattr(result, "errors", None) else []
    first = errors[0].code if errors else ""
    if first in IN_FLIGHT_CODES:
        # The first request with this api_request_key has not finished.
        return Unknown(
            "Braintree is still processing a request with this key",
            code="request_in_progress",
            provider_code=first,
            http_status=422,
        )
    return Rejected(
        str(result.message or "Braintree refused the request"),
        code=VALIDATION_CODES.get(first, "invalid_request"),
        provider_code=first or None,
        http_status=422,
    )


def transaction_decline(transaction: Any) -> Rejected | None:
    """The refusal a failed transaction (the SDK's, or a webhook's kept
    fields) records, as a create's answer is translated; None when it names
    no code (a settlement declined without the processor's response)."""
    read = (
        transaction.get
        if isinstance(transaction, Mapping)
        else (lambda name: getattr(transaction, name, None))
    )
    status = str(read("status") or "")
    # A settlement's refusal is the settlement response's, not the approved
    # authorization's.
    code = read("processor_settlement_response_code") or (
        read("processor_response_code") if status != "settlement_declined" else ""
    )
    rejection = read("gateway_rejection_reason")
    if status not in FAILED_STATUSES or not (code or rejection):
        return None
    text = read("processor_settlement_response_text") or read("processor_response_text")
    advice = read("merchant_advice_code") if status != "settlement_declined" else ""
    return _decline(status, code, rejection, str(text or ""), advice)


def _decline(
    status: str,
    processor_code: Any,
    rejection: Any,
    message: str,
    network_advice: Any = None,
) -> Rejected:
    """``network_advice``: the transaction's ``merchant_advice_code`` (the
    card network's, Mastercard's MAC, as PayPal's and Stripe's)."""
    if status == "gateway_rejected":
        reason = str(rejection or "")
        return Rejected(
            message or "Braintree rejected the transaction",
            code=GATEWAY_REJECTIONS.get(reason, "card_declined"),
            provider_code=reason or status,
        )
    response_code = str(processor_code or "")
    advice = str(network_advice or "")
    code = PROCESSOR_CODES.get(response_code)
    if code is None:
        # 2xxx are issuer declines, 3xxx processor failures; 4xxx are the
        # settlement's answers (4001 Settlement Declined): the card's money.
        failure = "3000" <= response_code < "4000"
        code = "processing_error" if failure else "card_declined"
    if advice == STOP_PAYMENT_ADVICE:
        code = "stop_payment"
    return Decline(
        message or "the card was declined",
        code=code,
        provider_code=response_code or status,
        advice_code=DO_NOT_TRY_AGAIN
        if response_code in DO_NOT_RETRY
        else NETWORK_ADVICE.get(advice, ""),
    )


def transaction_status(raw: str) -> ProviderStatus:
    if raw == "authorized":
        return ProviderStatus.AUTHORIZED
    if raw in CAPTURED_STATUSES:
        return ProviderStatus.CAPTURED
    if raw == "voided":
        return ProviderStatus.VOIDED
    if raw in FAILED_STATUSES:
        return ProviderStatus.FAILED
    return ProviderStatus.PENDING


def stored_notification(gateway: Callable[[], Any], body: bytes) -> Any:
    """The notification in a stored form body whose signature passed at
    intake, read as the SDK's ``parse`` reads it, without checking it again.
    ``gateway`` builds the account's SDK gateway (its keys are needed)."""
    try:
        built = gateway()
    except (ProviderError, *registry.ACCOUNT_UNCALLABLE):
        raise StoredBodyNotReadable(
            "this account's Braintree keys cannot be read"
        ) from None
    # In UTF-8: the intake refuses any other encoding (check_webhook_encoding).
    form = parse_qs(body.decode("utf-8"), strict_parsing=True)
    payload = form["bt_payload"][0]
    if re.search(r"[^A-Za-z0-9+=/\n]", payload):
        raise ValueError("bt_payload is not base64")  # the SDK refuses it too
    attributes = XmlUtil.dict_from_xml(b64decode(payload.replace("\n", "")))
    return WebhookNotification(built, attributes["notification"])


def webhook_form_fields(body: bytes) -> tuple[str, str]:
    """``bt_signature`` and ``bt_payload`` of the form, found in any encoding
    (``signature_text``); MALFORMED without them: nothing to check."""
    try:
        form = parse_qs(signature_text(body), strict_parsing=True)
    except ValueError:
        form = {}
    signature = (form.get("bt_signature") or [""])[0]
    payload = (form.get("bt_payload") or [""])[0]
    if not signature or not payload:
        raise WebhookVerificationError(
            "The webhook body needs bt_signature and bt_payload.",
            code=WebhookVerificationError.MALFORMED,
        )
    return signature, payload


def forged_signature() -> WebhookVerificationError:
    return WebhookVerificationError(
        "The Braintree webhook signature does not match.",
        code=WebhookVerificationError.FORGED,
    )


def signed_with(
    public_key: str, private_key: str, signature: str, payload: str
) -> bool:
    """The SDK's check, with its public helpers: a ``public|hmac`` pair of
    this key carries the HMAC-SHA1 of the payload (or of it and a newline).
    A payload that is not ASCII is not the base64 the SDK signs."""
    if not payload.isascii():
        return False
    signed = [Crypto.sha1_hmac_hash(private_key, p) for p in (payload, payload + "\n")]
    return any(
        key == public_key and any(Crypto.secure_compare(s, sig) for s in signed)
        for key, _, sig in (pair.partition("|") for pair in signature.split("&"))
    )
