"""PayPal REST (Orders v2, Payments v2, Vault-free) over the shared ProviderClient.

How a PayPal payment maps onto our contract:

- The buyer approves a PayPal *order* client-side (JS SDK buttons). The
  storefront creates that order first through ``create_order`` (intent
  ``CAPTURE`` or ``AUTHORIZE``, amount as a decimal string, our order id as
  ``reference_id``/``custom_id``), then sends the approved order id to our API
  as ``PaymentRequest.source_token``.
- ``authorize(request)`` reads the order, refuses one whose amount, currency or
  intent differ from the request, then calls ``/v2/checkout/orders/{id}/capture``
  (``capture=True``) or ``/authorize``.
- The order id is the payment's ``provider_reference`` for its whole life: it
  is known before the first money-moving call, and capture, void and refund
  look the authorization or capture up on the order (one safe GET) before they
  act. Refunds are made against one capture; a refund larger than any single
  capture's remainder is refused rather than split.
- Every POST carries ``PayPal-Request-Id`` = our idempotency key (at most 108
  characters). PayPal replays the first answer for a repeated id, so POSTs are
  retried by the client on 5xx and timeouts (``idempotent=True``).
- OAuth2 client-credentials tokens come from ``integrations.oauth``: one per
  account shared by every process, fetched once, refreshed before expiry. A
  401 on an API call (token revoked early) repeats the call once with a fresh
  token and the same ``PayPal-Request-Id``. Tokens are never logged.
- Currencies PayPal does not accept (KWD and other three-decimal currencies,
  among others) are refused with ``currency_not_supported`` before anything is
  sent; HUF/JPY/TWD are sent without decimals (``integrations.money``).
- Saving a method (Vault v3) and merchant-initiated charges are not offered:
  they need PayPal's vault product enabled per merchant and a different order
  flow. ``save_method`` and ``charge_saved`` raise ``Rejected(not_supported)``.
- Reconciliation looks payments up by ``provider_reference`` (the order id);
  PayPal has no look-up by ``PayPal-Request-Id``, so a look-up by idempotency
  key alone raises ``Unknown(lookup_not_supported)`` rather than claim that no
  payment exists. The order id is known before the first call, so
  ``reference_before_call`` returns it and the service stores it with the
  attempt (and on the payment when the outcome is unknown): a timed-out
  authorize or capture is reconciled by GETting the order. An order that is
  still only ``APPROVED`` (the capture never reached PayPal, or is still
  running) reads as ``pending`` and the payment stays ``unknown``.

Webhooks are verified by PayPal itself: ``verify_webhook`` posts the
``PAYPAL-*`` transmission headers, the account's ``webhook_id`` setting and
the event (its raw bytes, unchanged) to ``/v1/notifications/verify-webhook-
signature`` and accepts only ``verification_status == "SUCCESS"``. The
transmission time is signed, so one outside ``WEBHOOK_TOLERANCE_SECONDS`` is
refused as stale before PayPal is asked.
"""

import json
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar

import requests
from django.conf import settings

from integrations.client import STATUS_CODES, client_for, response_json
from integrations.errors import ProviderError, Rejected, Unknown
from integrations.money import MoneyError, from_wire_decimal, to_wire_decimal
from integrations.oauth import ClientCredentials, TokenCache
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

API_BASE = {
    "test": "https://api-m.sandbox.paypal.com",
    "live": "https://api-m.paypal.com",
}
REQUEST_ID_HEADER = "PayPal-Request-Id"

# https://developer.paypal.com/reference/currency-codes/
_CURRENCY_LIST = """
    AUD BRL CAD CNY CZK DKK EUR HKD HUF ILS JPY MYR MXN TWD NZD NOK PHP PLN
    GBP SGD SEK CHF THB USD
"""
SUPPORTED_CURRENCIES = frozenset(_CURRENCY_LIST.split())

# Error ``issue`` codes (Orders v2 / Payments v2 422 details) -> our decline codes.
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

WEBHOOK_HEADERS = {
    "auth_algo": "PAYPAL-AUTH-ALGO",
    "cert_url": "PAYPAL-CERT-URL",
    "transmission_id": "PAYPAL-TRANSMISSION-ID",
    "transmission_sig": "PAYPAL-TRANSMISSION-SIG",
    "transmission_time": "PAYPAL-TRANSMISSION-TIME",
}
EVENT_KINDS: Mapping[str, PaymentEventKind] = {
    "PAYMENT.AUTHORIZATION.CREATED": PaymentEventKind.AUTHORIZED,
    "PAYMENT.AUTHORIZATION.VOIDED": PaymentEventKind.VOIDED,
    "PAYMENT.CAPTURE.COMPLETED": PaymentEventKind.SUCCEEDED,
    "PAYMENT.CAPTURE.DENIED": PaymentEventKind.FAILED,
    "PAYMENT.CAPTURE.REFUNDED": PaymentEventKind.REFUNDED,
    "PAYMENT.CAPTURE.REVERSED": PaymentEventKind.REFUNDED,
    "CUSTOMER.DISPUTE.CREATED": PaymentEventKind.DISPUTE_OPENED,
    "CUSTOMER.DISPUTE.RESOLVED": PaymentEventKind.DISPUTE_CLOSED,
}

_OPEN_AUTHORIZATION = ("CREATED", "PARTIALLY_CAPTURED")
_REFUNDABLE_CAPTURE = ("COMPLETED", "PARTIALLY_REFUNDED")
_CAPTURED = ("COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED")


class PayPalAdapter(PaymentsAdapter):
    code = "paypal"
    display_name = "PayPal"
    max_idempotency_key_length: ClassVar[int] = 108
    # PayPal refuses decimals for these (sent as whole units).
    currency_exponents: ClassVar[Mapping[str, int]] = {"HUF": 0, "JPY": 0, "TWD": 0}
    credential_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField("client_id", "Client ID", help_text="REST app client ID."),
        ConfigField("client_secret", "Client secret"),
    )
    settings_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField(
            "webhook_id",
            "Webhook ID",
            required=False,
            help_text="The ID PayPal shows for the webhook pointing at "
            "/webhooks/<slug>/; needed to verify webhooks.",
        ),
    )

    # --- Orders ----------------------------------------------------------------

    def create_order(
        self,
        *,
        amount: int,
        currency: str,
        order_id: str,
        capture: bool,
        idempotency_key: str,
        description: str = "",
    ) -> dict[str, Any]:
        """Create the order the buyer approves client-side; returns PayPal's
        order (``id``, ``status``, ``links`` with the ``approve`` URL)."""
        unit: dict[str, Any] = {
            "reference_id": order_id[:256],
            "custom_id": order_id[:127],
            "amount": _money(amount, currency),
        }
        if description:
            unit["description"] = description[:127]
        body = {
            "intent": "CAPTURE" if capture else "AUTHORIZE",
            "purchase_units": [unit],
        }
        return self._call(
            "POST",
            "/v2/checkout/orders",
            operation="paypal_create_order",
            idempotency_key=idempotency_key,
            json=body,
        )

    def authorize(self, request: PaymentRequest) -> PaymentResult:
        _money(request.amount, request.currency)  # refuse before any call
        order = self._get_order(request.source_token)
        _check_order_matches(order, request)
        action = "capture" if request.capture else "authorize"
        order = self._call(
            "POST",
            f"/v2/checkout/orders/{_segment(request.source_token)}/{action}",
            operation=f"paypal_order_{action}",
            idempotency_key=request.idempotency_key,
            json={},
            check=_declined_in_order,
        )
        return _order_result(order, request.currency)

    def reference_before_call(self, request: PaymentRequest) -> str:
        # The approved order id is the payment's reference from the start.
        token = request.source_token
        return token if token and token.replace("-", "").isalnum() else ""

    def charge_saved(self, request: PaymentRequest) -> PaymentResult:
        raise _not_supported("merchant-initiated charges of a saved method")

    def capture(self, request: CaptureRequest) -> PaymentResult:
        amount = _money(request.amount, request.currency)
        order = self._get_order(request.provider_reference)
        authorization = _latest(_payments(order, "authorizations"), _OPEN_AUTHORIZATION)
        if authorization is None:
            raise Rejected(
                "the PayPal order has no open authorization to capture",
                code="not_capturable",
            )
        captured = self._call(
            "POST",
            f"/v2/payments/authorizations/{_segment(authorization['id'])}/capture",
            operation="paypal_capture_authorization",
            idempotency_key=request.idempotency_key,
            json={"amount": amount, "final_capture": request.final},
            check=_declined_capture,
        )
        earlier = [
            c for c in _payments(order, "captures") if c.get("id") != captured.get("id")
        ]
        total = _sum_amounts([*earlier, captured], _CAPTURED, request.currency)
        return PaymentResult(
            status=_capture_status(captured),
            provider_reference=order["id"],
            currency=request.currency,
            amount_authorized=_amount(authorization, request.currency),
            amount_captured=total,
            raw_status=str(captured.get("status", "")),
        )

    def void(self, *, provider_reference: str, idempotency_key: str) -> PaymentResult:
        order = self._get_order(provider_reference)
        authorizations = _payments(order, "authorizations")
        authorization = _latest(authorizations, _OPEN_AUTHORIZATION)
        if authorization is None:
            if _latest(authorizations, ("VOIDED",)) is not None:
                return _order_result(order, _order_currency(order))
            raise Rejected(
                "the PayPal order has no open authorization to void",
                code="not_voidable",
            )
        voided = self._call(
            "POST",
            f"/v2/payments/authorizations/{_segment(authorization['id'])}/void",
            operation="paypal_void_authorization",
            idempotency_key=idempotency_key,
            allow_empty=True,
        )
        currency = _order_currency(order)
        return PaymentResult(
            status=ProviderStatus.VOIDED,
            provider_reference=order["id"],
            currency=currency,
            amount_authorized=_amount(authorization, currency),
            raw_status=str(voided.get("status", "VOIDED")),
        )

    def refund(self, request: RefundRequest) -> RefundResult:
        amount = _money(request.amount, request.currency)
        order = self._get_order(request.provider_reference)
        capture_id = _refundable_capture(order, request.amount, request.currency)
        body: dict[str, Any] = {"amount": amount}
        if request.reason:
            body["note_to_payer"] = request.reason[:255]
        refund = self._call(
            "POST",
            f"/v2/payments/captures/{_segment(capture_id)}/refund",
            operation="paypal_refund_capture",
            idempotency_key=request.idempotency_key,
            json=body,
        )
        status = str(refund.get("status", ""))
        return RefundResult(
            provider_reference=str(refund.get("id", "")),
            status={
                "COMPLETED": RefundStatus.SUCCEEDED,
                "PENDING": RefundStatus.PENDING,
            }.get(status, RefundStatus.FAILED),
            amount=_amount(refund, request.currency) or request.amount,
            currency=request.currency,
        )

    def retrieve(
        self,
        *,
        provider_reference: str = "",
        idempotency_key: str = "",
        lookup: PaymentLookup | None = None,
    ) -> PaymentResult | None:
        if not provider_reference:
            raise Unknown(
                "PayPal cannot look a payment up by PayPal-Request-Id",
                code="lookup_not_supported",
            )
        try:
            order = self._get_order(provider_reference)
        except Rejected as error:
            if error.http_status == 404:
                return None
            raise
        return _order_result(order, _order_currency(order), raise_decline=False)

    def save_method(self, request: SaveMethodRequest) -> SavedMethod:
        raise _not_supported("saving a payment method (PayPal Vault)")

    # --- Health ----------------------------------------------------------------

    def health_check(self) -> HealthResult:
        # A fresh token proves the credentials work; a cached one proves nothing.
        self._tokens().fetch()
        return HealthResult(ok=True, detail="OAuth2 token obtained")

    # --- Webhooks ----------------------------------------------------------------

    def verify_webhook(
        self, *, body: bytes, headers: Mapping[str, str], url: str
    ) -> WebhookMessage:
        transmission = {}
        for field, header in WEBHOOK_HEADERS.items():
            value = headers.get(header)
            if not value:
                raise WebhookVerificationError(
                    f"The {header} header is missing.",
                    code=WebhookVerificationError.MISSING_HEADER,
                    param=header,
                )
            transmission[field] = value
        webhook_id = self.setting("webhook_id")
        if not webhook_id:
            raise WebhookVerificationError(
                "No PayPal webhook ID is configured for this account.",
                code=WebhookVerificationError.MISSING_SECRET,
            )
        event = _event(body)
        _check_fresh(transmission["transmission_time"])
        if not self._signature_verified(transmission, webhook_id, body):
            raise WebhookVerificationError(
                "PayPal did not confirm the webhook signature.",
                code=WebhookVerificationError.FORGED,
            )
        return WebhookMessage(
            event_type=str(event["event_type"])[:128],
            dedupe_key=str(event["id"])[:255],
            payload=event,
            occurred_at=_parse_time(event.get("create_time")),
        )

    def _signature_verified(
        self, transmission: dict[str, str], webhook_id: str, body: bytes
    ) -> bool:
        # The event goes back byte for byte: re-serialising it could change
        # what PayPal checks the signature against.
        fields = {**transmission, "webhook_id": webhook_id}
        head = json.dumps(fields, separators=(",", ":"))[:-1]
        payload = head.encode() + b',"webhook_event":' + body.strip() + b"}"
        answer = self._call(
            "POST",
            "/v1/notifications/verify-webhook-signature",
            operation="paypal_verify_webhook",
            data=payload,
            idempotency_key=None,
        )
        return answer.get("verification_status") == "SUCCESS"

    def parse_payment_event(self, message: WebhookMessage) -> PaymentEvent | None:
        kind = EVENT_KINDS.get(message.event_type)
        if kind is None:
            return None
        resource = message.payload.get("resource") or {}
        occurred_at = message.occurred_at
        if kind in (PaymentEventKind.DISPUTE_OPENED, PaymentEventKind.DISPUTE_CLOSED):
            return self._dispute_event(kind, resource, occurred_at)
        money = resource.get("amount") or {}
        currency = str(money.get("currency_code", ""))
        event_amount = _amount(resource, currency) if currency else None
        refund_reference = ""
        if kind is PaymentEventKind.REFUNDED:
            refund_reference = str(resource.get("id", ""))
        return PaymentEvent(
            kind=kind,
            provider_reference=self._order_id_of(resource),
            amount=event_amount,
            currency=currency,
            refund_reference=refund_reference,
            occurred_at=occurred_at,
        )

    def _dispute_event(
        self,
        kind: PaymentEventKind,
        resource: dict[str, Any],
        occurred_at: datetime | None,
    ) -> PaymentEvent | None:
        transactions = resource.get("disputed_transactions") or []
        capture_id = next(
            (t.get("seller_transaction_id") for t in transactions if t), None
        )
        if not capture_id:
            return None
        money = resource.get("dispute_amount") or {}
        currency = str(money.get("currency_code", ""))
        outcome = (resource.get("dispute_outcome") or {}).get("outcome_code")
        return PaymentEvent(
            kind=kind,
            provider_reference=self._order_of_capture(str(capture_id)),
            amount=_amount({"amount": money}, currency) if currency else None,
            currency=currency,
            dispute_reference=str(resource.get("dispute_id", "")),
            dispute_status=str(outcome or resource.get("status", "")),
            occurred_at=occurred_at,
        )

    def _order_id_of(self, resource: dict[str, Any]) -> str:
        related = (resource.get("supplementary_data") or {}).get("related_ids") or {}
        if related.get("order_id"):
            return str(related["order_id"])
        capture_id = related.get("capture_id") or _link_id(resource, "up", "captures")
        if capture_id:
            # Refunds and reversals point at their capture, not the order.
            return self._order_of_capture(capture_id)
        return ""

    def _order_of_capture(self, capture_id: str) -> str:
        capture = self._call(
            "GET",
            f"/v2/payments/captures/{_segment(capture_id)}",
            operation="paypal_get_capture",
        )
        related = (capture.get("supplementary_data") or {}).get("related_ids") or {}
        return str(related.get("order_id") or _link_id(capture, "up", "orders") or "")

    # --- Transport ----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return API_BASE["live" if self.account.mode == "live" else "test"]

    def _get_order(self, order_id: str) -> dict[str, Any]:
        return self._call(
            "GET",
            f"/v2/checkout/orders/{_segment(order_id)}",
            operation="paypal_get_order",
        )

    def _call(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        idempotency_key: str | None = None,
        check: Callable[[dict[str, Any]], ProviderError | None] | None = None,
        allow_empty: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """One API call with a bearer token; on a 401 the call is made once
        more with a fresh token and the same request id."""
        client = client_for(self.account)
        # Fixed here, so the repeat after a 401 replays the same PayPal-Request-Id.
        key = idempotency_key or uuid.uuid4().hex
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Prefer": "return=representation",
        }

        def send(token: str) -> requests.Response:
            return client.request(
                method,
                self.base_url + path,
                operation=operation,
                # PayPal replays a POST carrying the same PayPal-Request-Id.
                idempotent=True,
                idempotency_key=key,
                idempotency_header=REQUEST_ID_HEADER,
                headers={**headers, "Authorization": f"Bearer {token}"},
                error_map=_error_map(check, allow_empty),
                **kwargs,
            )

        response = self._tokens().with_token(send)
        if allow_empty and not response.content:
            return {}
        body = response_json(response)
        return body if isinstance(body, dict) else {}

    def _tokens(self) -> TokenCache:
        credentials = self.credentials
        return TokenCache(
            self.account,
            ClientCredentials(
                token_url=self.base_url + "/v1/oauth2/token",
                client_id=credentials.get("client_id") or "",
                client_secret=credentials.get("client_secret") or "",
            ),
            provider="paypal",
        )


# --- Helpers -------------------------------------------------------------------------


def _not_supported(what: str) -> Rejected:
    return Rejected(f"PayPal accounts do not support {what}", code="not_supported")


def _segment(value: str) -> str:
    # PayPal ids are upper-case alphanumerics; anything else is not one of them
    # and must not change the path.
    if not value or not value.replace("-", "").isalnum():
        raise Rejected("not a PayPal id", code="invalid_reference")
    return value


def _money(amount: int, currency: str) -> dict[str, str]:
    code = (currency or "").upper()
    if code not in SUPPORTED_CURRENCIES:
        raise Rejected(
            f"PayPal does not support payments in {code or 'this currency'}",
            code="currency_not_supported",
        )
    try:
        value = to_wire_decimal(
            amount, code, exponents=PayPalAdapter.currency_exponents
        )
    except MoneyError as error:
        raise Rejected(str(error), code="invalid_amount") from None
    return {"currency_code": code, "value": value}


def _amount(resource: Mapping[str, Any], currency: str) -> int:
    money = resource.get("amount") or {}
    value = money.get("value")
    if not isinstance(value, str):
        return 0
    try:
        return from_wire_decimal(
            value, currency, exponents=PayPalAdapter.currency_exponents
        )
    except MoneyError:
        raise Unknown(
            "PayPal sent an amount that cannot be read", code="malformed_response"
        ) from None


def _purchase_unit(order: Mapping[str, Any]) -> dict[str, Any]:
    units = order.get("purchase_units") or [{}]
    return units[0] or {}


def _payments(order: Mapping[str, Any], kind: str) -> list[dict[str, Any]]:
    return list((_purchase_unit(order).get("payments") or {}).get(kind) or [])


def _latest(items: list[dict[str, Any]], statuses: tuple[str, ...]) -> dict | None:
    return next((i for i in reversed(items) if i.get("status") in statuses), None)


def _order_currency(order: Mapping[str, Any]) -> str:
    return str((_purchase_unit(order).get("amount") or {}).get("currency_code", ""))


def _sum_amounts(
    items: list[dict[str, Any]], statuses: tuple[str, ...], currency: str
) -> int:
    return sum(_amount(i, currency) for i in items if i.get("status") in statuses)


def _check_order_matches(order: Mapping[str, Any], request: PaymentRequest) -> None:
    unit_amount = _purchase_unit(order).get("amount") or {}
    currency = str(unit_amount.get("currency_code", ""))
    if currency != request.currency.upper() or (
        _amount({"amount": unit_amount}, currency) != request.amount
    ):
        raise Rejected(
            "the approved PayPal order is for a different amount or currency",
            code="amount_mismatch",
        )
    intent = "CAPTURE" if request.capture else "AUTHORIZE"
    if order.get("intent") != intent:
        raise Rejected(
            f"the PayPal order was created with intent {order.get('intent')}",
            code="intent_mismatch",
        )


def _capture_status(capture: Mapping[str, Any]) -> ProviderStatus:
    if capture.get("status") in _CAPTURED:
        return ProviderStatus.CAPTURED
    return ProviderStatus.PENDING


def _order_result(
    order: Mapping[str, Any], currency: str, *, raise_decline: bool = True
) -> PaymentResult:
    captures = _payments(order, "captures")
    authorizations = _payments(order, "authorizations")
    captured = _sum_amounts(captures, _CAPTURED, currency)
    authorization = _latest(authorizations, (*_OPEN_AUTHORIZATION, "CAPTURED"))
    last = (captures or authorizations or [{}])[-1]
    raw = str(last.get("status") or order.get("status", ""))
    if captured:
        status = ProviderStatus.CAPTURED
    elif captures and captures[-1].get("status") == "PENDING":
        status = ProviderStatus.PENDING
    elif authorization is not None and authorization.get("status") != "CAPTURED":
        status = ProviderStatus.AUTHORIZED
    elif _latest(authorizations, ("VOIDED",)) or order.get("status") == "VOIDED":
        status = ProviderStatus.VOIDED
    elif raw in ("DECLINED", "FAILED", "DENIED"):
        status = ProviderStatus.FAILED
    elif authorizations and authorizations[-1].get("status") == "PENDING":
        status = ProviderStatus.PENDING
    elif order.get("status") == "PAYER_ACTION_REQUIRED":
        status = ProviderStatus.REQUIRES_ACTION
    else:
        status = ProviderStatus.PENDING
    if raise_decline and status is ProviderStatus.FAILED:
        raise _decline(last)
    source = order.get("payment_source") or {}
    card = source.get("card") or {}
    return PaymentResult(
        status=status,
        provider_reference=str(order.get("id", "")),
        currency=currency,
        amount_authorized=(
            _amount(authorization, currency) if authorization else captured
        ),
        amount_captured=captured,
        card_brand=str(card.get("brand", "")).lower(),
        card_last4=str(card.get("last_digits", "")),
        wallet="" if card else next(iter(source), ""),
        raw_status=raw,
    )


def _decline(resource: Mapping[str, Any]) -> Rejected:
    response_code = str(
        (resource.get("processor_response") or {}).get("response_code", "")
    )
    reason = str((resource.get("status_details") or {}).get("reason", ""))
    return Rejected(
        "PayPal declined the payment",
        code=PROCESSOR_CODES.get(response_code, "card_declined"),
        provider_code=response_code or reason or str(resource.get("status", "")),
    )


def _declined_in_order(order: dict[str, Any]) -> ProviderError | None:
    captures = _payments(order, "captures")
    authorizations = _payments(order, "authorizations")
    last = (captures or authorizations or [None])[-1]
    if last is not None and last.get("status") in ("DECLINED", "FAILED", "DENIED"):
        return _decline(last)
    return None


def _declined_capture(capture: dict[str, Any]) -> ProviderError | None:
    if capture.get("status") in ("DECLINED", "FAILED"):
        return _decline(capture)
    return None


def _error_map(
    check: Callable[[dict[str, Any]], ProviderError | None] | None,
    allow_empty: bool,
) -> Callable[[requests.Response], ProviderError | None]:
    def classify(response: requests.Response) -> ProviderError | None:
        status = response.status_code
        if status < 400:
            if check is None or (allow_empty and not response.content):
                return None
            body = response_json(response)
            return check(body) if isinstance(body, dict) else None
        if status == 401 or status == 429 or status >= 500:
            return None  # the client's default mapping (Retry-After included)
        return _client_error(response)

    return classify


def _client_error(response: requests.Response) -> ProviderError | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    name = str(body.get("name") or body.get("error") or "")
    details = body.get("details") or [{}]
    issue = str((details[0] or {}).get("issue", "")) if details else ""
    status = response.status_code
    provider_code = issue or name or None
    if status == 409:
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
    if status == 403:
        return None
    code = DECLINE_ISSUES.get(issue) or OTHER_ISSUES.get(issue)
    if code is None:
        code = STATUS_CODES.get(status, (Rejected, "client_error"))[1]
    description = str((details[0] or {}).get("description", "")) if details else ""
    return Rejected(
        description or str(body.get("message") or "PayPal refused the request"),
        code=code,
        http_status=status,
        provider_code=provider_code,
    )


def _link_id(resource: Mapping[str, Any], rel: str, collection: str) -> str:
    for link in resource.get("links") or []:
        href = str(link.get("href", ""))
        if link.get("rel") == rel and f"/{collection}/" in href:
            return href.rstrip("/").rsplit("/", 1)[-1]
    return ""


def _refundable_capture(order: Mapping[str, Any], amount: int, currency: str) -> str:
    refunded: dict[str, int] = {}
    for refund in _payments(order, "refunds"):
        if refund.get("status") in ("COMPLETED", "PENDING"):
            capture_id = _link_id(refund, "up", "captures")
            refunded[capture_id] = refunded.get(capture_id, 0) + _amount(
                refund, currency
            )
    for capture in _payments(order, "captures"):
        if capture.get("status") not in _REFUNDABLE_CAPTURE:
            continue
        left = _amount(capture, currency) - refunded.get(capture.get("id", ""), 0)
        if left >= amount:
            return str(capture["id"])
    raise Rejected(
        "no capture on this PayPal order has that much left to refund",
        code="amount_too_large",
    )


def _event(body: bytes) -> dict[str, Any]:
    try:
        event = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        event = None
    if (
        not isinstance(event, dict)
        or not event.get("id")
        or not event.get("event_type")
    ):
        raise WebhookVerificationError(
            "The webhook body must be a PayPal event with an id and event_type.",
            code=WebhookVerificationError.MALFORMED,
        )
    return event


def _check_fresh(transmission_time: str) -> None:
    sent = _parse_time(transmission_time)
    if sent is None:
        raise WebhookVerificationError(
            "PAYPAL-TRANSMISSION-TIME is not a date and time.",
            code=WebhookVerificationError.MALFORMED,
            param="PAYPAL-TRANSMISSION-TIME",
        )
    if abs(time.time() - sent.timestamp()) > settings.WEBHOOK_TOLERANCE_SECONDS:
        raise WebhookVerificationError(
            "The webhook transmission time is outside the allowed tolerance.",
            code=WebhookVerificationError.STALE,
        )


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
