"""Braintree through the official ``braintree`` SDK, over the shared ProviderClient.

The SDK's HTTP goes through the account's ``client.session``: ``Configuration``
takes an ``http_strategy`` (a class it builds with ``(config, environment)``,
whose ``http_do`` sends one request), and ``SessionHttp`` below is the SDK's
own ``Http`` with ``http_do`` sending through our session instead of the
thread-local ``requests.Session`` the SDK would open. So every request gets
the correlation id, the client's timeouts and deadline, and counts as an
attempt on the ``ProviderCall`` row. ``wrap_http_exceptions`` stays off, so
transport errors reach the client as ``requests`` exceptions and get the
shared mapping (refused -> not_processed, read timeout -> unknown).

Each SDK call runs in ``client.call``: the SDK never retries by itself, and
the client retries only what is safe. Money-moving calls carry our
idempotency key as Braintree's ``api_request_key`` (sale, submit for
settlement, void, refund), which Braintree replays for a repeated key, so
they are retried like idempotent requests. Vaulting (customer / payment
method create) has no such key and is never retried after an unknown outcome.

- Amounts are decimal strings with the ISO exponent (``integrations.money``).
  A Braintree merchant account has one currency: the account's
  ``default_currency`` uses the default merchant account, others need an entry
  in ``merchant_accounts`` (``EUR=my_eur_account, JPY=my_jpy_account``); any
  other currency is refused with ``currency_not_supported`` before sending.
- The transaction id is the ``provider_reference`` for the payment's whole
  life. A partial, non-final capture (``submit_for_partial_settlement``,
  ``CaptureRequest.final`` False) creates a child transaction at Braintree,
  which is what refunds of that part must name: ``capture`` returns the
  child's id as ``PaymentResult.capture_reference`` (the service records it
  on the capture attempt). The service itself only ever sends final
  captures (``submit_for_settlement`` with the amount, no child), because a
  payment is captured once; multi-capture refund routing is not built.
- Declines (``result.is_success`` False with a transaction) map the
  ``processor_response_code`` or ``gateway_rejection_reason`` onto our decline
  codes; validation errors are ``Rejected`` with Braintree's error code.
- Reconciliation looks transactions up by id. Braintree cannot search by
  ``api_request_key``, but our order id is sent as ``order_id``: without an id,
  ``retrieve`` searches sales by order id, amount and currency created since
  the payment (``PaymentLookup``). One live match is the payment; several
  raise ``Unknown(lookup_ambiguous)`` (staff decide); only declined ones give
  the latest decline; none is None (nothing charged: the search index lags
  seconds, reconciliation runs a minute or more later). Without a lookup a
  key alone raises ``Unknown(lookup_not_supported)``.

Webhooks are ``application/x-www-form-urlencoded`` with ``bt_signature`` and
``bt_payload``, verified and parsed by ``gateway.webhook_notification.parse``
(HMAC-SHA1 keyed with the private key). Braintree signs no delivery time and
retries a notification with the same payload for hours, so there is no
staleness window; duplicates are caught by the dedupe key (kind, subject id,
notification timestamp).
"""

import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar, TypeVar
from urllib.parse import parse_qs
from xml.parsers.expat import ExpatError

import braintree
import requests
from braintree.exceptions import (
    AuthenticationError,
    AuthorizationError,
    GatewayTimeoutError,
    InvalidSignatureError,
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
from braintree.util.http import Http

from integrations.client import CallContext, client_for, parse_retry_after
from integrations.errors import (
    ConfigurationError,
    NotProcessed,
    ProviderError,
    Rejected,
    Unknown,
)
from integrations.money import MoneyError, from_wire_decimal, to_wire_decimal
from integrations.providers.base import ConfigField, HealthResult, WebhookMessage
from integrations.webhooks.verification import WebhookVerificationError
from payments.providers.base import (
    CaptureRequest,
    PaymentEvent,
    PaymentEventKind,
    PaymentLookup,
    PaymentRequest,
    PaymentResult,
    PaymentsAdapter,
    ProviderStatus,
    RefundRequest,
    RefundResult,
    RefundStatus,
    SavedMethod,
    SaveMethodRequest,
)

T = TypeVar("T")

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
    "2010": "incorrect_cvc",  # Card Issuer Declined CVV
    "2012": "lost_or_stolen",
    "2013": "lost_or_stolen",
    "2014": "fraudulent",
    "2047": "lost_or_stolen",  # Call Issuer. Pick Up Card
    "2053": "lost_or_stolen",
    "2099": "authentication_required",
}
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
_CAPTURED = frozenset(
    {
        "submitted_for_settlement",
        "settling",
        "settlement_pending",
        "settlement_confirmed",
        "settled",
    }
)
_FAILED = frozenset(
    {
        "processor_declined",
        "gateway_rejected",
        "failed",
        "settlement_declined",
        "authorization_expired",
    }
)
EVENT_KINDS: Mapping[str, PaymentEventKind] = {
    "transaction_settled": PaymentEventKind.SUCCEEDED,
    "transaction_settlement_declined": PaymentEventKind.FAILED,
    "dispute_opened": PaymentEventKind.DISPUTE_OPENED,
    "dispute_won": PaymentEventKind.DISPUTE_CLOSED,
    "dispute_lost": PaymentEventKind.DISPUTE_CLOSED,
    "dispute_accepted": PaymentEventKind.DISPUTE_CLOSED,
}
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


class BraintreeAdapter(PaymentsAdapter):
    code = "braintree"
    display_name = "Braintree"
    credential_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField("merchant_id", "Merchant ID"),
        ConfigField("public_key", "Public key"),
        ConfigField("private_key", "Private key"),
    )
    settings_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField(
            "default_currency",
            "Currency of the default merchant account",
            required=False,
            default="USD",
        ),
        ConfigField(
            "merchant_accounts",
            "Merchant accounts per currency",
            type="text",
            required=False,
            default="",
            help_text="e.g. 'EUR=shop_eur, JPY=shop_jpy'; other currencies use "
            "the default merchant account.",
        ),
    )

    # --- Payments ----------------------------------------------------------------

    def authorize(self, request: PaymentRequest) -> PaymentResult:
        params = self._sale_params(request)
        params["payment_method_nonce"] = request.source_token
        return self._sale(request, params)

    def charge_saved(self, request: PaymentRequest) -> PaymentResult:
        params = self._sale_params(request)
        params["payment_method_token"] = request.source_token
        if request.provider_customer_id:
            params["customer_id"] = request.provider_customer_id
        if request.off_session:
            # Merchant-initiated: no cardholder present to re-authenticate.
            params["transaction_source"] = "unscheduled"
        return self._sale(request, params)

    def _sale_params(self, request: PaymentRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "amount": _decimal(request.amount, request.currency),
            "order_id": request.order_id[:255],
            "api_request_key": request.idempotency_key,
            "options": {"submit_for_settlement": request.capture},
        }
        merchant_account = self._merchant_account(request.currency)
        if merchant_account:
            params["merchant_account_id"] = merchant_account
        if request.customer_email:
            params["customer"] = {"email": request.customer_email[:255]}
        return params

    def _sale(self, request: PaymentRequest, params: dict[str, Any]) -> PaymentResult:
        result = self._run(
            "braintree_sale",
            lambda gateway: gateway.transaction.sale(params),
            idempotency_key=request.idempotency_key,
        )
        return _payment_result(result.transaction)

    def capture(self, request: CaptureRequest) -> PaymentResult:
        amount = _decimal(request.amount, request.currency)
        options = {"api_request_key": request.idempotency_key}
        reference = request.provider_reference
        final = request.final

        def settle(gateway: braintree.BraintreeGateway) -> Any:
            # A non-final capture leaves the rest of the authorization open.
            transactions = gateway.transaction
            submit = (
                transactions.submit_for_settlement
                if final
                else transactions.submit_for_partial_settlement
            )
            return submit(reference, amount, options)

        result = self._run(
            "braintree_submit_for_settlement",
            settle,
            idempotency_key=request.idempotency_key,
        )
        transaction = result.transaction
        return PaymentResult(
            status=_status(transaction.status),
            provider_reference=reference,
            currency=transaction.currency_iso_code,
            amount_captured=_minor(transaction.amount, transaction.currency_iso_code)
            or 0,
            raw_status=transaction.status,
            # A partial settlement is a child transaction: refunds name it.
            capture_reference=str(transaction.id or ""),
        )

    def void(self, *, provider_reference: str, idempotency_key: str) -> PaymentResult:
        result = self._run(
            "braintree_void",
            lambda gateway: gateway.transaction.void(
                provider_reference, {"api_request_key": idempotency_key}
            ),
            idempotency_key=idempotency_key,
        )
        return _payment_result(result.transaction)

    def refund(self, request: RefundRequest) -> RefundResult:
        options = {
            "amount": _decimal(request.amount, request.currency),
            "api_request_key": request.idempotency_key,
        }
        result = self._run(
            "braintree_refund",
            lambda gateway: gateway.transaction.refund(
                request.provider_reference, options
            ),
            idempotency_key=request.idempotency_key,
        )
        refund = result.transaction
        if refund.status in _CAPTURED:
            status = RefundStatus.SUCCEEDED
        elif refund.status in _FAILED:
            status = RefundStatus.FAILED
        else:
            status = RefundStatus.PENDING
        return RefundResult(
            provider_reference=refund.id,
            status=status,
            amount=_minor(refund.amount, refund.currency_iso_code) or request.amount,
            currency=refund.currency_iso_code,
        )

    def retrieve(
        self,
        *,
        provider_reference: str = "",
        idempotency_key: str = "",
        lookup: PaymentLookup | None = None,
    ) -> PaymentResult | None:
        if not provider_reference:
            if lookup is None or not lookup.order_id:
                raise Unknown(
                    "Braintree cannot look a transaction up by api_request_key",
                    code="lookup_not_supported",
                )
            return self._find_sale(lookup)
        try:
            transaction = self._run(
                "braintree_find_transaction",
                lambda gateway: gateway.transaction.find(provider_reference),
            )
        except Rejected as error:
            if error.code == "not_found":
                return None
            raise
        return _payment_result(transaction)

    def _find_sale(self, lookup: PaymentLookup) -> PaymentResult | None:
        amount = _decimal(lookup.amount, lookup.currency)
        search = braintree.TransactionSearch
        query = [
            search.order_id == lookup.order_id[:255],
            search.amount.between(amount, amount),
            search.type == braintree.Transaction.Type.Sale,
        ]
        if lookup.since is not None:
            query.append(search.created_at >= lookup.since)
        found = self._run(
            "braintree_search_transactions",
            lambda gateway: list(gateway.transaction.search(query).items),
        )
        sales = [
            t
            for t in found
            if str(t.currency_iso_code or "").upper() == lookup.currency.upper()
        ]
        live = [t for t in sales if t.status not in _FAILED]
        if len(live) > 1:
            raise Unknown(
                "several Braintree sales match the order id and amount",
                code="lookup_ambiguous",
            )
        if live:
            return _payment_result(live[0])
        if sales:
            earliest = datetime.min.replace(tzinfo=UTC)
            latest = max(sales, key=lambda t: _aware(t.created_at) or earliest)
            return _payment_result(latest)
        return None

    def save_method(self, request: SaveMethodRequest) -> SavedMethod:
        verify = {"verify_card": True}
        if request.provider_customer_id:
            params = {
                "customer_id": request.provider_customer_id,
                "payment_method_nonce": request.source_token,
                "options": verify,
            }
            result = self._run(
                "braintree_create_payment_method",
                lambda gateway: gateway.payment_method.create(params),
                idempotent=False,
            )
            method = result.payment_method
            customer_id = request.provider_customer_id
        else:
            params = {
                "payment_method_nonce": request.source_token,
                "credit_card": {"options": verify},
            }
            if request.customer_email:
                params["email"] = request.customer_email[:255]
            result = self._run(
                "braintree_create_customer",
                lambda gateway: gateway.customer.create(params),
                idempotent=False,
            )
            customer = result.customer
            customer_id = customer.id
            method = (customer.payment_methods or [None])[0]
        if method is None:
            raise Unknown(
                "Braintree saved no payment method", code="malformed_response"
            )
        return SavedMethod(
            provider_customer_id=customer_id,
            provider_method_id=method.token,
            card_brand=str(getattr(method, "card_type", "") or "").lower(),
            card_last4=str(getattr(method, "last_4", "") or ""),
            exp_month=_int(getattr(method, "expiration_month", None)),
            exp_year=_int(getattr(method, "expiration_year", None)),
        )

    # --- Health ----------------------------------------------------------------

    def health_check(self) -> HealthResult:
        # The cheapest authenticated call: an id that cannot exist answers 404
        # with valid keys and 401 without.
        try:
            self._run(
                "braintree_health_check",
                lambda gateway: gateway.transaction.find("health_check_probe"),
            )
        except Rejected as error:
            if error.code != "not_found":
                raise
        return HealthResult(ok=True, detail="authenticated")

    # --- Webhooks ----------------------------------------------------------------

    def verify_webhook(
        self, *, body: bytes, headers: Mapping[str, str], url: str
    ) -> WebhookMessage:
        try:
            form = parse_qs(body.decode("ascii"), strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            form = {}
        signature = (form.get("bt_signature") or [""])[0]
        payload = (form.get("bt_payload") or [""])[0]
        if not signature or not payload:
            raise WebhookVerificationError(
                "The webhook body needs bt_signature and bt_payload.",
                code=WebhookVerificationError.MALFORMED,
            )
        credentials = self.credentials
        if not credentials.get("public_key") or not credentials.get("private_key"):
            raise WebhookVerificationError(
                "Braintree keys are not configured for this account.",
                code=WebhookVerificationError.MISSING_SECRET,
            )
        try:
            notification = self._gateway(None).webhook_notification.parse(
                signature, payload
            )
        except InvalidSignatureError:
            raise WebhookVerificationError(
                "The Braintree webhook signature does not match.",
                code=WebhookVerificationError.FORGED,
            ) from None
        except (ExpatError, KeyError, ValueError):
            raise WebhookVerificationError(
                "The Braintree webhook payload cannot be read.",
                code=WebhookVerificationError.MALFORMED,
            ) from None
        event = _notification_payload(notification)
        subject = event.get("transaction") or event.get("dispute") or {}
        return WebhookMessage(
            event_type=str(notification.kind)[:128],
            dedupe_key=f"{notification.kind}:{subject.get('id', '')}:"
            f"{event['timestamp']}"[:255],
            payload=event,
            occurred_at=_aware(notification.timestamp),
        )

    def parse_payment_event(self, message: WebhookMessage) -> PaymentEvent | None:
        kind = EVENT_KINDS.get(message.event_type)
        if kind is None:
            return None
        payload = message.payload
        if "dispute" in payload:
            dispute = payload["dispute"]
            currency = dispute.get("currency", "")
            return PaymentEvent(
                kind=kind,
                provider_reference=dispute.get("transaction_id", ""),
                amount=_minor(dispute.get("amount"), currency),
                currency=currency,
                dispute_reference=dispute.get("id", ""),
                dispute_status=dispute.get("status", ""),
                occurred_at=message.occurred_at,
            )
        transaction = payload.get("transaction") or {}
        currency = transaction.get("currency", "")
        return PaymentEvent(
            kind=kind,
            provider_reference=transaction.get("id", ""),
            amount=_minor(transaction.get("amount"), currency),
            currency=currency,
            occurred_at=message.occurred_at,
        )

    # --- SDK plumbing ----------------------------------------------------------------

    def _gateway(self, session: requests.Session | None) -> braintree.BraintreeGateway:
        credentials = self.credentials
        missing = [
            name
            for name in ("merchant_id", "public_key", "private_key")
            if not credentials.get(name)
        ]
        if missing:
            raise ConfigurationError(
                "Braintree credentials are not set", code="missing_credentials"
            )
        environment = (
            braintree.Environment.Production
            if self.account.mode == "live"
            else braintree.Environment.Sandbox
        )
        options: dict[str, Any] = {}
        if session is not None:
            options["http_strategy"] = session_strategy(session)
        config = braintree.Configuration(
            environment=environment,
            merchant_id=credentials["merchant_id"],
            public_key=credentials["public_key"],
            private_key=credentials["private_key"],
            **options,
        )
        return braintree.BraintreeGateway(config)

    def _run(
        self,
        operation: str,
        fn: Callable[[braintree.BraintreeGateway], T],
        *,
        idempotency_key: str | None = None,
        idempotent: bool = True,
    ) -> T:
        client = client_for(self.account)
        gateway = self._gateway(client.session)
        strategy = gateway.config.http_strategy()

        def exception_map(exc: Exception) -> ProviderError | None:
            error = map_exception(exc)
            if error is not None and error.code == "too_many_requests":
                error.retry_after = strategy.retry_after
            return error

        def call(ctx: CallContext) -> T:
            result = fn(gateway)
            # Raised inside the operation, so the call log records the refusal.
            if getattr(result, "is_success", True) is False:
                raise _refusal(result)
            return result

        return client.call(
            operation,
            call,
            idempotent=idempotent,
            idempotency_key=idempotency_key,
            exception_map=exception_map,
        )

    def _merchant_account(self, currency: str) -> str:
        code = currency.upper()
        default = str(self.setting("default_currency") or "USD").upper()
        accounts = _parse_accounts(str(self.setting("merchant_accounts") or ""))
        if code in accounts:
            return accounts[code]
        if code == default:
            return ""
        raise Rejected(
            f"this Braintree account has no merchant account in {code}",
            code="currency_not_supported",
        )


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


def _refusal(result: Any) -> ProviderError:
    """The error for a result with ``is_success`` False."""
    for attempt in (
        getattr(result, "transaction", None),
        getattr(result, "credit_card_verification", None),
    ):
        if attempt is not None and getattr(attempt, "status", "") in _FAILED:
            return _decline(
                attempt.status,
                getattr(attempt, "processor_response_code", None),
                getattr(attempt, "gateway_rejection_reason", None),
                getattr(attempt, "processor_response_text", None) or result.message,
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


def _decline(
    status: str, processor_code: Any, rejection: Any, message: str
) -> Rejected:
    if status == "gateway_rejected":
        reason = str(rejection or "")
        return Rejected(
            message or "Braintree rejected the transaction",
            code=GATEWAY_REJECTIONS.get(reason, "card_declined"),
            provider_code=reason or status,
        )
    response_code = str(processor_code or "")
    code = PROCESSOR_CODES.get(response_code)
    if code is None:
        # 2xxx are issuer declines; 3000 and up are processor failures.
        code = "processing_error" if response_code >= "3000" else "card_declined"
    return Rejected(
        message or "the card was declined",
        code=code,
        provider_code=response_code or status,
    )


def _status(raw: str) -> ProviderStatus:
    if raw == "authorized":
        return ProviderStatus.AUTHORIZED
    if raw in _CAPTURED:
        return ProviderStatus.CAPTURED
    if raw == "voided":
        return ProviderStatus.VOIDED
    if raw in _FAILED:
        return ProviderStatus.FAILED
    return ProviderStatus.PENDING


def _payment_result(transaction: Any) -> PaymentResult:
    status = _status(transaction.status)
    currency = transaction.currency_iso_code
    amount = _minor(transaction.amount, currency) or 0
    card = getattr(transaction, "credit_card_details", None)
    paypal = getattr(transaction, "paypal_details", None)
    brand = str(getattr(card, "card_type", "") or "").lower()
    return PaymentResult(
        status=status,
        provider_reference=transaction.id,
        currency=currency,
        amount_authorized=amount,
        amount_captured=amount if status is ProviderStatus.CAPTURED else 0,
        card_brand=brand,
        card_last4=str(getattr(card, "last_4", "") or "") if brand else "",
        wallet="paypal"
        if paypal is not None and getattr(paypal, "payer_email", None)
        else "",
        raw_status=transaction.status,
    )


def _notification_payload(notification: Any) -> dict[str, Any]:
    """What is kept of a notification: JSON-safe, enough to process it later."""
    payload: dict[str, Any] = {
        "kind": notification.kind,
        "timestamp": _iso(_aware(notification.timestamp)),
    }
    dispute = getattr(notification, "dispute", None)
    transaction = getattr(notification, "transaction", None)
    if dispute is not None:
        details = getattr(dispute, "transaction", None)
        payload["dispute"] = {
            "id": dispute.id,
            "status": str(dispute.status or ""),
            "kind": str(getattr(dispute, "kind", "") or ""),
            "reason": str(getattr(dispute, "reason", "") or ""),
            "amount": _str(getattr(dispute, "amount_disputed", None) or dispute.amount),
            "currency": str(dispute.currency_iso_code or ""),
            "transaction_id": str(getattr(details, "id", "") or ""),
        }
    elif transaction is not None:
        payload["transaction"] = {
            "id": transaction.id,
            "status": transaction.status,
            "amount": _str(transaction.amount),
            "currency": transaction.currency_iso_code,
        }
    return payload


# --- Small conversions ------------------------------------------------------------


def _decimal(amount: int, currency: str) -> str:
    try:
        return to_wire_decimal(amount, currency)
    except MoneyError as error:
        raise Rejected(str(error), code="invalid_amount") from None


def _minor(value: Any, currency: str) -> int | None:
    if value in (None, "") or not currency:
        return None
    try:
        # "1050.00" JPY is 1050: only trailing zeros go, real extra digits stay
        # and are refused by the money helper.
        text = format(Decimal(str(value)).normalize(), "f")
        return from_wire_decimal(text, currency)
    except (MoneyError, ArithmeticError, ValueError):
        raise Unknown(
            "Braintree sent an amount that cannot be read", code="malformed_response"
        ) from None


def _str(value: Any) -> str:
    if value is None:
        return ""
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def _aware(value: Any) -> datetime | None:
    # The SDK parses "...Z" timestamps into naive UTC datetimes.
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _parse_accounts(text: str) -> dict[str, str]:
    accounts: dict[str, str] = {}
    for entry in re.split(r"[,\n]", text):
        currency, _, account = entry.partition("=")
        if currency.strip() and account.strip():
            accounts[currency.strip().upper()] = account.strip()
    return accounts
