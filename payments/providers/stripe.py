"""Stripe: PaymentIntents, Refunds, Customers and PaymentMethods through the
official ``stripe`` SDK, whose HTTP layer is the account's ProviderClient
session (the SDK's own retries are off; the client retries, and Stripe replays
a POST carrying the same ``Idempotency-Key``, so every POST is idempotent).

Amounts go through ``integrations.money``: JPY and other zero-decimal
currencies pass unchanged; Stripe's three-decimal currencies (KWD, BHD, JOD,
OMR, TND) must end in 0, so an amount that does not is refused before any call
(``Rejected``, code ``invalid_amount``).

Reconciliation by idempotency key uses the PaymentIntent Search API on
``metadata['switchyard_idempotency_key']``, set on every PaymentIntent we
create. Search is eventually consistent (Stripe documents up to a minute), so
a look-up right after an ``unknown`` outcome may miss a charge that exists;
reconciliation runs later and asks again.
"""

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

import requests
import stripe
from django.conf import settings

from integrations import money
from integrations.client import (
    CallContext,
    classify_exception,
    client_for,
    parse_retry_after,
)
from integrations.errors import (
    ConfigurationError,
    NotProcessed,
    ProviderError,
    Rejected,
    Unknown,
)
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

PROVIDER = "stripe"
IDEMPOTENCY_METADATA_KEY = "switchyard_idempotency_key"
SIGNATURE_HEADER = "Stripe-Signature"
# Objects we expand so one call returns the card brand and last4.
EXPAND = ["payment_method"]

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
}

INTENT_STATUS: Mapping[str, ProviderStatus] = {
    "requires_payment_method": ProviderStatus.PENDING,
    "requires_confirmation": ProviderStatus.PENDING,
    "processing": ProviderStatus.PENDING,
    "requires_action": ProviderStatus.REQUIRES_ACTION,
    "requires_capture": ProviderStatus.AUTHORIZED,
    "succeeded": ProviderStatus.CAPTURED,
    "canceled": ProviderStatus.VOIDED,
}

REFUND_STATUS: Mapping[str, RefundStatus] = {
    "pending": RefundStatus.PENDING,
    "requires_action": RefundStatus.PENDING,
    "succeeded": RefundStatus.SUCCEEDED,
    "failed": RefundStatus.FAILED,
    "canceled": RefundStatus.FAILED,
}
# Stripe's refund reasons; any other text of ours goes to metadata.
REFUND_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer"})

EVENT_KINDS: Mapping[str, PaymentEventKind] = {
    "payment_intent.amount_capturable_updated": PaymentEventKind.AUTHORIZED,
    "payment_intent.succeeded": PaymentEventKind.SUCCEEDED,
    "payment_intent.payment_failed": PaymentEventKind.FAILED,
    "payment_intent.canceled": PaymentEventKind.VOIDED,
    "charge.refunded": PaymentEventKind.REFUNDED,
    "charge.dispute.created": PaymentEventKind.DISPUTE_OPENED,
    "charge.dispute.closed": PaymentEventKind.DISPUTE_CLOSED,
}


# --- Errors -----------------------------------------------------------------


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
    decline_code = getattr(error, "decline_code", None) if error else None
    provider_code = decline_code or exc.code or "card_declined"
    code = DECLINE_MAP.get(decline_code or "") or DECLINE_MAP.get(exc.code or "")
    return Rejected(
        exc.user_message or "the card was declined",
        code=code or "card_declined",
        http_status=exc.http_status,
        provider_code=provider_code,
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


# --- Translation helpers ----------------------------------------------------


def _to_stripe_amount(amount: int, currency: str) -> int:
    try:
        return money.to_provider_minor(amount, currency, provider=PROVIDER)
    except money.MoneyError as exc:
        raise Rejected(str(exc), code="invalid_amount") from None


def _from_stripe_amount(value: Any, currency: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        return 0
    return money.from_provider_minor(value, currency, provider=PROVIDER)


def _card(intent: Mapping[str, Any]) -> dict[str, Any]:
    method = intent.get("payment_method")
    if isinstance(method, Mapping):
        return dict(method.get("card") or {})
    return {}


def intent_result(intent: Mapping[str, Any]) -> PaymentResult:
    """A PaymentIntent (as a dict) in our terms."""
    currency = str(intent.get("currency") or "").upper()
    raw_status = str(intent.get("status") or "")
    status = INTENT_STATUS.get(raw_status, ProviderStatus.PENDING)
    if raw_status == "requires_payment_method" and intent.get("last_payment_error"):
        status = ProviderStatus.FAILED
    amount = _from_stripe_amount(intent.get("amount"), currency)
    authorized = captured = 0
    if status is ProviderStatus.AUTHORIZED:
        capturable = _from_stripe_amount(intent.get("amount_capturable"), currency)
        authorized = capturable or amount
    elif status is ProviderStatus.CAPTURED:
        authorized = amount
        captured = _from_stripe_amount(intent.get("amount_received"), currency)
    card = _card(intent)
    wallet = card.get("wallet") or {}
    next_action = intent.get("next_action")
    requires_action = status is ProviderStatus.REQUIRES_ACTION
    return PaymentResult(
        status=status,
        provider_reference=str(intent.get("id") or ""),
        currency=currency,
        amount_authorized=authorized,
        amount_captured=captured,
        card_brand=str(card.get("brand") or ""),
        card_last4=str(card.get("last4") or ""),
        wallet=str(wallet.get("type") or "") if isinstance(wallet, Mapping) else "",
        client_secret=str(intent.get("client_secret") or "") if requires_action else "",
        next_action=dict(next_action) if requires_action and next_action else None,
        raw_status=raw_status,
    )


def _search_literal(value: str) -> str:
    # Stripe's search query language quotes strings with ' and escapes with \.
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _webhook_time(payload: Mapping[str, Any]) -> datetime | None:
    created = payload.get("created")
    if isinstance(created, int) and not isinstance(created, bool):
        return datetime.fromtimestamp(created, tz=UTC)
    return None


# --- The adapter ------------------------------------------------------------


class StripeAdapter(PaymentsAdapter):
    code = "stripe"
    display_name = "Stripe"
    # Stripe: search data is usually current within a minute, but can be up to
    # an hour behind during incidents; a miss before then proves nothing.
    lookup_lag_seconds = 3600
    credential_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField(
            "secret_key",
            "Secret key",
            help_text="sk_test_... for a test account, sk_live_... for live "
            "(restricted keys rk_... work too).",
        ),
        ConfigField(
            "webhook_secret",
            "Webhook signing secret",
            required=False,
            help_text="whsec_... from the webhook endpoint in the Stripe Dashboard.",
        ),
    )
    # Where the SDK sends requests; tests point it at 127.0.0.1. Deliberately
    # not an account setting: the secret key must only ever go to Stripe.
    api_base: ClassVar[str] = stripe.DEFAULT_API_BASE

    # --- Plumbing ------------------------------------------------------------

    def _secret_key(self) -> str:
        key = str(self.credentials.get("secret_key") or "")
        if not key:
            raise ConfigurationError(
                "Stripe secret key is not set", code="missing_credentials"
            )
        key_mode = "live" if "_live_" in key else "test" if "_test_" in key else ""
        if key_mode != self.account.mode:
            # A test account must never move real money, and the reverse.
            raise ConfigurationError(
                f"the Stripe secret key is not a {self.account.mode}-mode key",
                code="mode_mismatch",
            )
        return key

    def _sdk(self) -> stripe.StripeClient:
        session = client_for(self.account).session
        return stripe.StripeClient(
            self._secret_key(),
            base_addresses={"api": self.api_base},
            http_client=stripe.RequestsClient(session=session),
            max_network_retries=0,
        )

    def _call(
        self,
        operation: str,
        fn: Callable[[stripe.StripeClient, CallContext], T],
        *,
        idempotency_key: str | None = None,
    ) -> T:
        """One operation: ``fn(sdk, ctx)`` retried by the client. Safe to retry
        both for GETs and for POSTs, which carry ``ctx.idempotency_key``."""
        sdk = self._sdk()
        return client_for(self.account).call(
            operation,
            lambda ctx: fn(sdk, ctx),
            idempotent=True,
            idempotency_key=idempotency_key,
            exception_map=map_stripe_error,
        )

    @staticmethod
    def _options(ctx: CallContext) -> dict[str, Any]:
        return {"idempotency_key": ctx.idempotency_key}

    # --- Payments ------------------------------------------------------------

    def authorize(self, request: PaymentRequest) -> PaymentResult:
        params = self._intent_params(request)
        intent = self._call(
            "create_payment",
            lambda sdk, ctx: sdk.v1.payment_intents.create(
                params=params, options=self._options(ctx)
            ),
            idempotency_key=request.idempotency_key,
        )
        return intent_result(intent.to_dict())

    def _intent_params(self, request: PaymentRequest) -> dict[str, Any]:
        metadata = {
            **request.metadata,
            "order_id": request.order_id,
            IDEMPOTENCY_METADATA_KEY: request.idempotency_key,
        }
        if request.customer_reference:
            metadata["customer_reference"] = request.customer_reference
        params: dict[str, Any] = {
            "amount": _to_stripe_amount(request.amount, request.currency),
            "currency": request.currency.lower(),
            "payment_method": request.source_token,
            "confirm": True,
            "capture_method": "automatic" if request.capture else "manual",
            "metadata": metadata,
            "expand": EXPAND,
        }
        if request.description:
            params["description"] = request.description
        if request.customer_email:
            params["receipt_email"] = request.customer_email
        if request.provider_customer_id:
            params["customer"] = request.provider_customer_id
        if request.off_session:
            # A merchant-initiated charge: no customer to authenticate.
            params["off_session"] = True
        elif request.return_url:
            params["return_url"] = request.return_url
        else:
            # Without a return URL only methods that need no redirect qualify.
            params["automatic_payment_methods"] = {
                "enabled": True,
                "allow_redirects": "never",
            }
        return params

    def capture(self, request: CaptureRequest) -> PaymentResult:
        params: dict[str, Any] = {
            "amount_to_capture": _to_stripe_amount(request.amount, request.currency),
            "expand": EXPAND,
        }
        if not request.final:
            params["final_capture"] = False
        intent = self._call(
            "capture_payment",
            lambda sdk, ctx: sdk.v1.payment_intents.capture(
                request.provider_reference, params=params, options=self._options(ctx)
            ),
            idempotency_key=request.idempotency_key,
        )
        return intent_result(intent.to_dict())

    def void(self, *, provider_reference: str, idempotency_key: str) -> PaymentResult:
        intent = self._call(
            "void_payment",
            lambda sdk, ctx: sdk.v1.payment_intents.cancel(
                provider_reference,
                params={"expand": EXPAND},
                options=self._options(ctx),
            ),
            idempotency_key=idempotency_key,
        )
        return intent_result(intent.to_dict())

    def refund(self, request: RefundRequest) -> RefundResult:
        params: dict[str, Any] = {
            "payment_intent": request.provider_reference,
            "amount": _to_stripe_amount(request.amount, request.currency),
            "metadata": {IDEMPOTENCY_METADATA_KEY: request.idempotency_key},
        }
        if request.reason in REFUND_REASONS:
            params["reason"] = request.reason
        elif request.reason:
            params["metadata"]["reason"] = request.reason[:500]
        refund = self._call(
            "refund_payment",
            lambda sdk, ctx: sdk.v1.refunds.create(
                params=params, options=self._options(ctx)
            ),
            idempotency_key=request.idempotency_key,
        ).to_dict()
        currency = str(refund.get("currency") or request.currency).upper()
        return RefundResult(
            provider_reference=str(refund.get("id") or ""),
            status=REFUND_STATUS.get(str(refund.get("status")), RefundStatus.PENDING),
            amount=_from_stripe_amount(refund.get("amount"), currency),
            currency=currency,
        )

    def retrieve(
        self,
        *,
        provider_reference: str = "",
        idempotency_key: str = "",
        lookup: PaymentLookup | None = None,
    ) -> PaymentResult | None:
        if provider_reference:
            try:
                intent = self._call(
                    "retrieve_payment",
                    lambda sdk, ctx: sdk.v1.payment_intents.retrieve(
                        provider_reference, params={"expand": EXPAND}
                    ),
                )
            except Rejected as error:
                if error.code == "not_found":
                    return None
                raise
            return intent_result(intent.to_dict())
        if not idempotency_key:
            raise ValueError("retrieve needs a provider reference or idempotency key")
        query = f"metadata[{_search_literal(IDEMPOTENCY_METADATA_KEY)}]:" + (
            _search_literal(idempotency_key)
        )
        found = self._call(
            "search_payment",
            lambda sdk, ctx: sdk.v1.payment_intents.search(
                params={"query": query, "limit": 1, "expand": ["data.payment_method"]}
            ),
        ).to_dict()
        data = found.get("data") or []
        return intent_result(data[0]) if data else None

    def save_method(self, request: SaveMethodRequest) -> SavedMethod:
        customer_id = request.provider_customer_id or self._create_customer(request)
        method = self._call(
            "attach_payment_method",
            lambda sdk, ctx: sdk.v1.payment_methods.attach(
                request.source_token,
                params={"customer": customer_id},
                options=self._options(ctx),
            ),
            idempotency_key=f"{request.idempotency_key}-attach",
        ).to_dict()
        card = method.get("card") or {}
        return SavedMethod(
            provider_customer_id=customer_id,
            provider_method_id=str(method.get("id") or ""),
            card_brand=str(card.get("brand") or ""),
            card_last4=str(card.get("last4") or ""),
            exp_month=card.get("exp_month"),
            exp_year=card.get("exp_year"),
        )

    def _create_customer(self, request: SaveMethodRequest) -> str:
        params: dict[str, Any] = {
            "metadata": {"customer_reference": request.customer_reference}
        }
        if request.customer_email:
            params["email"] = request.customer_email
        customer = self._call(
            "create_customer",
            lambda sdk, ctx: sdk.v1.customers.create(
                params=params, options=self._options(ctx)
            ),
            idempotency_key=f"{request.idempotency_key}-customer",
        )
        return str(customer.id)

    # --- Health --------------------------------------------------------------

    def health_check(self) -> HealthResult:
        balance = self._call(
            "health_check", lambda sdk, ctx: sdk.v1.balance.retrieve()
        ).to_dict()
        livemode = bool(balance.get("livemode"))
        if livemode != (self.account.mode == "live"):
            return HealthResult(
                ok=False,
                detail="Stripe answered in the other mode than the account's",
                extra={"livemode": livemode},
            )
        return HealthResult(
            ok=True, detail="Stripe balance retrieved", extra={"livemode": livemode}
        )

    # --- Webhooks ------------------------------------------------------------

    def verify_webhook(
        self, *, body: bytes, headers: Mapping[str, str], url: str
    ) -> WebhookMessage:
        """``Stripe-Signature`` checked by the SDK (``t=`` timestamp within the
        tolerance, HMAC-SHA256 ``v1=`` signatures, constant-time compare)."""
        secret = str(self.credentials.get("webhook_secret") or "")
        if not secret:
            raise WebhookVerificationError(
                "No webhook signing secret is configured for this account.",
                code=WebhookVerificationError.MISSING_SECRET,
            )
        signature = _header(headers, SIGNATURE_HEADER)
        try:
            stripe.Webhook.construct_event(
                body,
                signature,
                secret,
                tolerance=settings.WEBHOOK_TOLERANCE_SECONDS,
            )
        except stripe.SignatureVerificationError as exc:
            raise _signature_error(exc) from None
        except ValueError:  # not UTF-8, not JSON, or not an event
            raise WebhookVerificationError(
                "The webhook body is not a Stripe event.",
                code=WebhookVerificationError.MALFORMED,
            ) from None
        payload = json.loads(body)
        event_id, event_type = payload.get("id"), payload.get("type")
        if not (isinstance(event_id, str) and event_id and isinstance(event_type, str)):
            raise WebhookVerificationError(
                "The Stripe event has no id or type.",
                code=WebhookVerificationError.MALFORMED,
            )
        return WebhookMessage(
            event_type=event_type[:128],
            dedupe_key=event_id[:255],
            payload=payload,
            occurred_at=_webhook_time(payload),
        )

    def parse_payment_event(self, message: WebhookMessage) -> PaymentEvent | None:
        """Payment events in our terms. For ``charge.refunded`` the amount is
        the charge's total refunded so far, not the latest refund's."""
        kind = EVENT_KINDS.get(message.event_type)
        data = message.payload.get("data") or {}
        obj = data.get("object") if isinstance(data, Mapping) else None
        if kind is None or not isinstance(obj, Mapping):
            return None
        currency = str(obj.get("currency") or "").upper()
        occurred_at = message.occurred_at
        if kind in (PaymentEventKind.DISPUTE_OPENED, PaymentEventKind.DISPUTE_CLOSED):
            return PaymentEvent(
                kind=kind,
                provider_reference=str(obj.get("payment_intent") or ""),
                amount=_from_stripe_amount(obj.get("amount"), currency),
                currency=currency,
                dispute_reference=str(obj.get("id") or ""),
                dispute_status=str(obj.get("status") or ""),
                occurred_at=occurred_at,
            )
        if kind is PaymentEventKind.REFUNDED:
            refunds = (obj.get("refunds") or {}).get("data") or []
            return PaymentEvent(
                kind=kind,
                provider_reference=str(obj.get("payment_intent") or ""),
                amount=_from_stripe_amount(obj.get("amount_refunded"), currency),
                currency=currency,
                refund_reference=str(refunds[0].get("id") or "") if refunds else "",
                occurred_at=occurred_at,
                # amount_refunded is cumulative: applied as a total.
                amount_is_total=True,
            )
        amount_field = {
            PaymentEventKind.AUTHORIZED: "amount_capturable",
            PaymentEventKind.SUCCEEDED: "amount_received",
        }.get(kind, "amount")
        return PaymentEvent(
            kind=kind,
            provider_reference=str(obj.get("id") or ""),
            amount=_from_stripe_amount(obj.get(amount_field), currency),
            currency=currency,
            occurred_at=occurred_at,
        )


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name) or headers.get(name.lower()) or ""
    if not value.strip():
        raise WebhookVerificationError(
            f"The {name} header is missing.",
            code=WebhookVerificationError.MISSING_HEADER,
            param=name,
        )
    return value.strip()


def _signature_error(
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
