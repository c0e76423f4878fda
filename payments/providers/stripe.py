"""Stripe: PaymentIntents, Refunds, Customers and PaymentMethods through the
official ``stripe`` SDK on the shared client (docs/providers/payments.md)."""

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar

import stripe
from django.conf import settings

from integrations.client import CallContext
from integrations.errors import (
    ConfigurationError,
    ProviderError,
)
from integrations.providers.base import ConfigField, HealthResult, SignedRequest
from integrations.providers.sdk import SdkAdapter
from integrations.webhooks.messages import (
    WebhookMessage,
    json_object,
    required_str,
    unix_time,
)
from integrations.webhooks.signing import hmac_hex, require_match
from integrations.webhooks.verification import WebhookVerificationError
from payments.providers.base import (
    CaptureRequest,
    Decline,
    MetadataLimits,
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
from payments.providers.stripe_errors import (
    DECLINE_MAP,
    SIGNATURE_HEADER,
    map_stripe_error,
    signature_error,
    stripe_decline,
)

IDEMPOTENCY_METADATA_KEY = "switchyard_idempotency_key"
# Stripe: at most 50 keys, keys of at most 40 characters without square
# brackets (form encoding), values of at most 500; the adapter adds its own.
METADATA_LIMITS = MetadataLimits(
    max_keys=50,
    max_key_length=40,
    max_value_length=500,
    forbidden_key_characters="[]",
    reserved_keys=frozenset(
        {"order_id", "customer_reference", "reason", IDEMPOTENCY_METADATA_KEY}
    ),
)
# Objects we expand so one call returns the card brand and last4.
EXPAND = ["payment_method"]

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

# The PaymentIntent field holding an event's amount (default ``amount``).
EVENT_AMOUNT_FIELDS: Mapping[PaymentEventKind, str] = {
    PaymentEventKind.AUTHORIZED: "amount_capturable",
    PaymentEventKind.SUCCEEDED: "amount_received",
}

EVENT_KINDS: Mapping[str, PaymentEventKind] = {
    "payment_intent.amount_capturable_updated": PaymentEventKind.AUTHORIZED,
    "payment_intent.succeeded": PaymentEventKind.SUCCEEDED,
    "payment_intent.payment_failed": PaymentEventKind.FAILED,
    "payment_intent.canceled": PaymentEventKind.VOIDED,
    "charge.refunded": PaymentEventKind.REFUNDED,
    "charge.dispute.created": PaymentEventKind.DISPUTE_OPENED,
    "charge.dispute.closed": PaymentEventKind.DISPUTE_CLOSED,
}


# --- Translation helpers ----------------------------------------------------


def _card(intent: Mapping[str, Any]) -> dict[str, Any]:
    method = intent.get("payment_method")
    if isinstance(method, Mapping):
        return dict(method.get("card") or {})
    return {}


def _search_literal(value: str) -> str:
    # Stripe's search query language quotes strings with ' and escapes with \.
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# --- The adapter ------------------------------------------------------------


class StripeAdapter(SdkAdapter, PaymentsAdapter):
    code = "stripe"
    display_name = "Stripe"
    # Stripe: search data is usually current within a minute, but can be up to
    # an hour behind during incidents; a miss before then proves nothing.
    lookup_lag_seconds = 3600
    # A customer's PaymentMethod (or legacy card); a one-off PaymentMethod
    # from Stripe.js has the same form: a pm_ is refused only if stored.
    saved_method_format: ClassVar[str] = r"(pm|card)_\w+"
    # A Card (legacy) exists only on its Customer: never a one-time token.
    saved_method_only_format: ClassVar[str] = r"card_\w+"
    metadata_limits = METADATA_LIMITS
    currency_exponents: ClassVar[Mapping[str, int]] = {"MGA": 0, "ISK": 2}
    amount_steps: ClassVar[Mapping[str, int]] = dict.fromkeys(
        ("BHD", "JOD", "KWD", "OMR", "TND"), 10
    )
    webhook_signing_credential = "webhook_secret"
    webhook_signs_body = True  # its signature covers the raw bytes
    webhook_signature_header = SIGNATURE_HEADER
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

    def sdk_error(self, exc: Exception) -> ProviderError | None:
        return map_stripe_error(exc)

    def _sdk(self) -> stripe.StripeClient:
        key = self.credential("secret_key")
        key_mode = "live" if "_live_" in key else "test" if "_test_" in key else ""
        if key_mode != self.account.mode:
            # A test account must never move real money, and the reverse.
            raise ConfigurationError(
                f"the Stripe secret key is not a {self.account.mode}-mode key",
                code="mode_mismatch",
            )
        return stripe.StripeClient(
            key,
            base_addresses={"api": self.api_base},
            http_client=stripe.RequestsClient(session=self.session),
            max_network_retries=0,
        )

    # --- Payments ------------------------------------------------------------

    def authorize(self, request: PaymentRequest) -> PaymentResult:
        params, sdk = self._intent_params(request), self._sdk()
        intent = self.run(
            "create_payment",
            lambda ctx: sdk.v1.payment_intents.create(
                params=params, options=_options(ctx)
            ),
            idempotency_key=request.idempotency_key,
        )
        return self._intent_result(intent.to_dict())

    def _intent_params(self, request: PaymentRequest) -> dict[str, Any]:
        metadata = {
            **request.metadata,
            "order_id": request.order_id,
            IDEMPOTENCY_METADATA_KEY: request.idempotency_key,
        }
        if request.customer_reference:
            metadata["customer_reference"] = request.customer_reference
        params: dict[str, Any] = {
            "amount": self.to_provider_minor(request.amount, request.currency),
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
        params.update(_confirmation(request))
        return params

    def capture(self, request: CaptureRequest) -> PaymentResult:
        params: dict[str, Any] = {
            "amount_to_capture": self.to_provider_minor(
                request.amount, request.currency
            ),
            "expand": EXPAND,
        }
        if not request.final:
            params["final_capture"] = False
        sdk = self._sdk()
        intent = self.run(
            "capture_payment",
            lambda ctx: sdk.v1.payment_intents.capture(
                request.provider_reference, params=params, options=_options(ctx)
            ),
            idempotency_key=request.idempotency_key,
        )
        return self._intent_result(intent.to_dict())

    def void(self, *, provider_reference: str, idempotency_key: str) -> PaymentResult:
        sdk = self._sdk()
        intent = self.run(
            "void_payment",
            lambda ctx: sdk.v1.payment_intents.cancel(
                provider_reference, params={"expand": EXPAND}, options=_options(ctx)
            ),
            idempotency_key=idempotency_key,
        )
        return self._intent_result(intent.to_dict())

    def refund(self, request: RefundRequest) -> RefundResult:
        params: dict[str, Any] = {
            "payment_intent": request.provider_reference,
            "amount": self.to_provider_minor(request.amount, request.currency),
            "metadata": {IDEMPOTENCY_METADATA_KEY: request.idempotency_key},
        }
        if request.reason in REFUND_REASONS:
            params["reason"] = request.reason
        elif request.reason:
            params["metadata"]["reason"] = request.reason[:500]
        sdk = self._sdk()
        refund = self.run(
            "refund_payment",
            lambda ctx: sdk.v1.refunds.create(params=params, options=_options(ctx)),
            idempotency_key=request.idempotency_key,
        ).to_dict()
        currency = str(refund.get("currency") or request.currency).upper()
        return RefundResult(
            provider_reference=str(refund.get("id") or ""),
            status=REFUND_STATUS.get(str(refund.get("status")), RefundStatus.PENDING),
            amount=self._amount(refund.get("amount"), currency),
            currency=currency,
        )

    def retrieve_by_reference(self, provider_reference: str) -> PaymentResult:
        sdk = self._sdk()
        intent = self.run(
            "retrieve_payment",
            lambda ctx: sdk.v1.payment_intents.retrieve(
                provider_reference, params={"expand": EXPAND}
            ),
        )
        return self._intent_result(intent.to_dict())

    def retrieve_by_key(
        self, *, idempotency_key: str, lookup: PaymentLookup | None
    ) -> PaymentResult | None:
        if not idempotency_key:
            return super().retrieve_by_key(idempotency_key="", lookup=lookup)
        query = f"metadata[{_search_literal(IDEMPOTENCY_METADATA_KEY)}]:" + (
            _search_literal(idempotency_key)
        )
        sdk = self._sdk()
        found = self.run(
            "search_payment",
            lambda ctx: sdk.v1.payment_intents.search(
                params={"query": query, "limit": 1, "expand": ["data.payment_method"]}
            ),
        ).to_dict()
        data = found.get("data") or []
        return self._intent_result(data[0]) if data else None

    def save_method(self, request: SaveMethodRequest) -> SavedMethod:
        customer_id = request.provider_customer_id or self._create_customer(request)
        sdk = self._sdk()
        method = self.run(
            "attach_payment_method",
            lambda ctx: sdk.v1.payment_methods.attach(
                request.source_token,
                params={"customer": customer_id},
                options=_options(ctx),
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
            card_fingerprint=str(card.get("fingerprint") or ""),
        )

    def _create_customer(self, request: SaveMethodRequest) -> str:
        params: dict[str, Any] = {
            "metadata": {"customer_reference": request.customer_reference}
        }
        if request.customer_email:
            params["email"] = request.customer_email
        sdk = self._sdk()
        customer = self.run(
            "create_customer",
            lambda ctx: sdk.v1.customers.create(params=params, options=_options(ctx)),
            idempotency_key=f"{request.idempotency_key}-customer",
        )
        return str(customer.id)

    # --- Health --------------------------------------------------------------

    def health_check(self) -> HealthResult:
        sdk = self._sdk()
        balance = self.run(
            "health_check", lambda ctx: sdk.v1.balance.retrieve()
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

    def check_webhook_signature(self, request: SignedRequest) -> Any:
        """``Stripe-Signature`` checked by the SDK (``t=`` timestamp within the
        tolerance, HMAC-SHA256 ``v1=`` signatures, constant-time compare).
        The signature only: reading the event is ``webhook_message``'s, so a
        signed body that is no event is stored, not refused."""
        try:
            stripe.WebhookSignature.verify_header(
                request.body,
                request.signature,
                request.secret,
                tolerance=settings.WEBHOOK_TOLERANCE_SECONDS,
            )
        except stripe.SignatureVerificationError as exc:
            raise signature_error(exc) from None
        except ValueError:
            # Not UTF-8: the SDK decodes before it checks, but Stripe signs
            # the bytes. Checked on them, a signed one is stored unusable.
            self._check_raw_signature(request)
        return None

    def _check_raw_signature(self, request: SignedRequest) -> None:
        """Stripe's scheme on the raw bytes: HMAC-SHA256 of ``{t}.{body}``
        against every ``v1=`` entry, ``t=`` within the tolerance."""
        timestamp, signatures = _signature_parts(request.signature)
        signed = f"{timestamp}.".encode() + request.body
        expected = hmac_hex(request.secret, signed)
        require_match(expected, signatures, param=SIGNATURE_HEADER)
        self.check_webhook_time(float(timestamp), param=SIGNATURE_HEADER)

    def webhook_message(self, request: SignedRequest, verified: Any) -> WebhookMessage:
        payload = json_object(request.body, what="a Stripe event")
        what = "Stripe event"
        return WebhookMessage.build(
            event_type=required_str(payload, "type", what=what),
            dedupe_key=required_str(payload, "id", what=what),
            payload=payload,
            occurred_at=unix_time(payload.get("created")),
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
        event = PaymentEvent(
            kind=kind,
            provider_reference=str(obj.get("id") or ""),
            currency=currency,
            occurred_at=message.occurred_at,
        )
        if kind in (PaymentEventKind.DISPUTE_OPENED, PaymentEventKind.DISPUTE_CLOSED):
            return replace(
                event,
                provider_reference=str(obj.get("payment_intent") or ""),
                amount=self._amount(obj.get("amount"), currency),
                dispute_reference=str(obj.get("id") or ""),
                dispute_status=str(obj.get("status") or ""),
            )
        if kind is PaymentEventKind.REFUNDED:
            refunds = (obj.get("refunds") or {}).get("data") or []
            return replace(
                event,
                provider_reference=str(obj.get("payment_intent") or ""),
                amount=self._amount(obj.get("amount_refunded"), currency),
                refund_reference=str(refunds[0].get("id") or "") if refunds else "",
                # amount_refunded is cumulative: applied as a total.
                amount_is_total=True,
            )
        field = EVENT_AMOUNT_FIELDS.get(kind, "amount")
        return replace(
            event,
            amount=self._amount(obj.get(field), currency),
            decline=_last_decline(obj) if kind is PaymentEventKind.FAILED else None,
        )

    # --- Translation ----------------------------------------------------------

    def _amount(self, value: Any, currency: str) -> int:
        # Stripe omits amounts it has none of (amount_capturable after capture).
        return self.from_provider_minor(value, currency) or 0

    def _intent_result(self, intent: Mapping[str, Any]) -> PaymentResult:
        """A PaymentIntent (as a dict) in our terms."""
        currency = str(intent.get("currency") or "").upper()
        raw_status = str(intent.get("status") or "")
        status = INTENT_STATUS.get(raw_status, ProviderStatus.PENDING)
        if raw_status == "requires_payment_method" and intent.get("last_payment_error"):
            status = ProviderStatus.FAILED
        amount = self._amount(intent.get("amount"), currency)
        authorized = captured = 0
        if status is ProviderStatus.AUTHORIZED:
            capturable = self._amount(intent.get("amount_capturable"), currency)
            authorized = capturable or amount
        elif status is ProviderStatus.CAPTURED:
            authorized = amount
            captured = self._amount(intent.get("amount_received"), currency)
        card = _card(intent)
        wallet = card.get("wallet") or {}
        next_action = intent.get("next_action")
        requires_action = status is ProviderStatus.REQUIRES_ACTION
        secret = str(intent.get("client_secret") or "") if requires_action else ""
        return PaymentResult(
            status=status,
            provider_reference=str(intent.get("id") or ""),
            currency=currency,
            amount_authorized=authorized,
            amount_captured=captured,
            card_brand=str(card.get("brand") or ""),
            card_last4=str(card.get("last4") or ""),
            wallet=str(wallet.get("type") or "") if isinstance(wallet, Mapping) else "",
            client_secret=secret,
            next_action=dict(next_action) if requires_action and next_action else None,
            raw_status=raw_status,
            order_id=_order_id(intent),
            decline=_last_decline(intent) if status is ProviderStatus.FAILED else None,
        )


def _signature_parts(header: str) -> tuple[int, list[str]]:
    """``t=`` and the ``v1=`` entries of a Stripe-Signature header."""
    pairs = [item.partition("=") for item in header.split(",")]
    times = [value for key, _, value in pairs if key.strip() == "t"]
    signatures = [value.strip() for key, _, value in pairs if key.strip() == "v1"]
    raw = times[0].strip() if len(times) == 1 else ""
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 12 and signatures):
        raise WebhookVerificationError(
            "The Stripe-Signature header is malformed.",
            code=WebhookVerificationError.MALFORMED,
            param=SIGNATURE_HEADER,
        )
    return int(raw), signatures


def _last_decline(intent: Mapping[str, Any]) -> Decline | None:
    """The PaymentIntent's ``last_payment_error``, if a card's decline (a
    failed 3-D Secure is an ``invalid_request_error`` of a code we map)."""
    error = intent.get("last_payment_error")
    if not isinstance(error, Mapping):
        return None
    if error.get("type") != "card_error" and error.get("code") not in DECLINE_MAP:
        return None
    return stripe_decline(error)


def _order_id(intent: Mapping[str, Any]) -> str:
    metadata = intent.get("metadata")
    if not isinstance(metadata, Mapping):
        return ""
    return str(metadata.get("order_id") or "")


def _options(ctx: CallContext) -> dict[str, Any]:
    # Stripe replays a POST carrying the same Idempotency-Key.
    return {"idempotency_key": ctx.idempotency_key}


def _confirmation(request: PaymentRequest) -> dict[str, Any]:
    if request.off_session:
        # A merchant-initiated charge: no customer to authenticate.
        return {"off_session": True}
    if request.return_url:
        return {"return_url": request.return_url}
    # Without a return URL only methods that need no redirect qualify.
    return {"automatic_payment_methods": {"enabled": True, "allow_redirects": "never"}}
