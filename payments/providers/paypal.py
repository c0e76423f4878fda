"""PayPal REST (Orders v2, Payments v2) as JSON over HTTP on the shared
client, with bearer tokens from ``integrations.oauth``. How an approved order
maps onto our contract, request ids, look-ups and webhook verification:
docs/providers/payments.md."""

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

import requests
from django.conf import settings

from integrations.errors import ProviderError, Rejected
from integrations.oauth import BearerTokenAuth, ClientCredentials
from integrations.providers.base import ConfigField, HealthResult, SignedRequest
from integrations.providers.http import HttpAdapter
from integrations.webhooks.messages import (
    WebhookMessage,
    iso_time,
    json_body,
    json_object,
    required_header,
    required_str,
    signature_text,
)
from integrations.webhooks.signing import check_retry_window
from integrations.webhooks.verification import WebhookVerificationError
from payments.providers.base import (
    CaptureRequest,
    PaymentEvent,
    PaymentEventKind,
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
from payments.providers.paypal_errors import (
    decline,
    declined_capture,
    paypal_error_map,
)
from payments.providers.paypal_orders import (
    CAPTURED_STATUSES,
    OPEN_AUTHORIZATION,
    REFUNDABLE_CAPTURE,
    capture_status,
    declined_in_order,
    latest,
    link_id,
    names_another_order,
    order_currency,
    order_payments,
    order_status,
    our_order_id,
    purchase_unit,
)

REQUEST_ID_HEADER = "PayPal-Request-Id"
OAUTH_PATH = "/v1/oauth2/token"

# https://developer.paypal.com/reference/currency-codes/
_CURRENCY_LIST = """
    AUD BRL CAD CNY CZK DKK EUR HKD HUF ILS JPY MYR MXN TWD NZD NOK PHP PLN
    GBP SGD SEK CHF THB USD
"""
SUPPORTED_CURRENCIES = frozenset(_CURRENCY_LIST.split())

WEBHOOK_HEADERS = {
    "auth_algo": "PAYPAL-AUTH-ALGO",
    "cert_url": "PAYPAL-CERT-URL",
    "transmission_id": "PAYPAL-TRANSMISSION-ID",
    "transmission_sig": "PAYPAL-TRANSMISSION-SIG",
    "transmission_time": "PAYPAL-TRANSMISSION-TIME",
}
# PayPal retries an undelivered webhook up to 25 times over 3 days; a day of
# margin so a last retry is never refused.
PAYPAL_RETRY_PERIOD_SECONDS = 4 * 24 * 3600
EVENT_KINDS: Mapping[str, PaymentEventKind] = {
    "PAYMENT.AUTHORIZATION.CREATED": PaymentEventKind.AUTHORIZED,
    "PAYMENT.AUTHORIZATION.VOIDED": PaymentEventKind.VOIDED,
    "PAYMENT.CAPTURE.COMPLETED": PaymentEventKind.SUCCEEDED,
    # Final: the capture was not collected (PayPal's webhook event names).
    "PAYMENT.CAPTURE.DENIED": PaymentEventKind.FAILED_FINAL,
    "PAYMENT.CAPTURE.DECLINED": PaymentEventKind.FAILED_FINAL,
    "PAYMENT.CAPTURE.REFUNDED": PaymentEventKind.REFUNDED,
    "PAYMENT.CAPTURE.REVERSED": PaymentEventKind.REFUNDED,
    "CUSTOMER.DISPUTE.CREATED": PaymentEventKind.DISPUTE_OPENED,
    "CUSTOMER.DISPUTE.RESOLVED": PaymentEventKind.DISPUTE_CLOSED,
}

PAYPAL_ERRORS = paypal_error_map()


class PayPalAdapter(BearerTokenAuth, HttpAdapter, PaymentsAdapter):
    code = "paypal"
    display_name = "PayPal"
    max_idempotency_key_length: ClassVar[int] = 108
    # The approved order id (checkout_orders_v2.json: path parameter ``id``).
    source_format: ClassVar[str] = r"[A-Z0-9]{1,36}"
    source_bound_to_account: ClassVar[bool] = True
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
    base_urls: ClassVar[Mapping[str, str]] = {
        "test": "https://api-m.sandbox.paypal.com",
        "live": "https://api-m.paypal.com",
    }
    # PayPal replays a POST carrying the same PayPal-Request-Id.
    idempotency_header = REQUEST_ID_HEADER
    replays_writes = True
    default_headers: ClassVar[Mapping[str, str]] = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "Prefer": "return=representation",
    }
    # PayPal checks the signature itself, against the webhook's id.
    webhook_signing_credential = "webhook_id"
    webhook_signature_header = WEBHOOK_HEADERS["transmission_sig"]

    def error_map(self, response: requests.Response) -> ProviderError | None:
        return PAYPAL_ERRORS(response)

    def oauth_credentials(self) -> ClientCredentials:
        return ClientCredentials(
            token_url=self.base_url + OAUTH_PATH,
            client_id=self.credential("client_id"),
            client_secret=self.credential("client_secret"),
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
            "amount": self._money(amount, currency),
        }
        if description:
            unit["description"] = description[:127]
        body = {
            "intent": "CAPTURE" if capture else "AUTHORIZE",
            "purchase_units": [unit],
        }
        return self.send(
            "POST",
            "/v2/checkout/orders",
            operation="paypal_create_order",
            idempotency_key=idempotency_key,
            json=body,
        )

    def authorize(self, request: PaymentRequest) -> PaymentResult:
        self._money(request.amount, request.currency)  # refuse before any call
        order = self._get_order(request.source_token)
        self._check_order_matches(order, request)
        action = "capture" if request.capture else "authorize"
        order = self.send(
            "POST",
            f"/v2/checkout/orders/{_segment(request.source_token)}/{action}",
            operation=f"paypal_order_{action}",
            idempotency_key=request.idempotency_key,
            json={},
            error_map=paypal_error_map(declined_in_order),
        )
        return self._order_result(order, request.currency)

    def reference_before_call(self, request: PaymentRequest) -> str:
        # The approved order id is the payment's reference from the start.
        token = request.source_token
        return token if token and token.replace("-", "").isalnum() else ""

    def source_from_reference(self, provider_reference: str) -> str:
        # A re-sent capture under the same PayPal-Request-Id is replayed.
        return provider_reference

    def charge_saved(self, request: PaymentRequest) -> PaymentResult:
        raise _not_supported("merchant-initiated charges of a saved method")

    def capture(self, request: CaptureRequest) -> PaymentResult:
        amount = self._money(request.amount, request.currency)
        order = self._get_order(request.provider_reference)
        authorization = latest(
            order_payments(order, "authorizations"), OPEN_AUTHORIZATION
        )
        if authorization is None:
            raise Rejected(
                "the PayPal order has no open authorization to capture",
                code="not_capturable",
            )
        captured = self.send(
            "POST",
            f"/v2/payments/authorizations/{_segment(authorization['id'])}/capture",
            operation="paypal_capture_authorization",
            idempotency_key=request.idempotency_key,
            json={"amount": amount, "final_capture": request.final},
            error_map=paypal_error_map(declined_capture),
        )
        earlier = [
            c
            for c in order_payments(order, "captures")
            if c.get("id") != captured.get("id")
        ]
        total = self._sum_amounts(
            [*earlier, captured], CAPTURED_STATUSES, request.currency
        )
        return PaymentResult(
            status=capture_status(captured),
            provider_reference=order["id"],
            currency=request.currency,
            amount_authorized=self._amount(authorization, request.currency),
            amount_captured=total,
            raw_status=str(captured.get("status", "")),
        )

    def void(self, *, provider_reference: str, idempotency_key: str) -> PaymentResult:
        order = self._get_order(provider_reference)
        authorizations = order_payments(order, "authorizations")
        authorization = latest(authorizations, OPEN_AUTHORIZATION)
        if authorization is None:
            if latest(authorizations, ("VOIDED",)) is not None:
                return self._order_result(order, order_currency(order))
            raise Rejected(
                "the PayPal order has no open authorization to void",
                code="not_voidable",
            )
        voided = self.send(
            "POST",
            f"/v2/payments/authorizations/{_segment(authorization['id'])}/void",
            operation="paypal_void_authorization",
            idempotency_key=idempotency_key,
            allow_empty=True,
        )
        currency = order_currency(order)
        return PaymentResult(
            status=ProviderStatus.VOIDED,
            provider_reference=order["id"],
            currency=currency,
            amount_authorized=self._amount(authorization, currency),
            raw_status=str(voided.get("status", "VOIDED")),
        )

    def refund(self, request: RefundRequest) -> RefundResult:
        amount = self._money(request.amount, request.currency)
        order = self._get_order(request.provider_reference)
        capture_id = self._refundable_capture(order, request.amount, request.currency)
        body: dict[str, Any] = {"amount": amount}
        if request.reason:
            body["note_to_payer"] = request.reason[:255]
        refund = self.send(
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
            amount=self._amount(refund, request.currency) or request.amount,
            currency=request.currency,
        )

    def retrieve_by_reference(self, provider_reference: str) -> PaymentResult:
        # PayPal has no look-up by PayPal-Request-Id: the base's
        # retrieve_by_key answers Unknown(lookup_not_supported).
        order = self._get_order(provider_reference)
        return self._order_result(order, order_currency(order), raise_decline=False)

    def save_method(self, request: SaveMethodRequest) -> SavedMethod:
        raise _not_supported("saving a payment method (PayPal Vault)")

    # --- Health ----------------------------------------------------------------

    def health_check(self) -> HealthResult:
        # A fresh token proves the credentials work; a cached one proves nothing.
        self.oauth_tokens().fetch()
        return HealthResult(ok=True, detail="OAuth2 token obtained")

    # --- Webhooks ----------------------------------------------------------------

    def check_webhook_signature(self, request: SignedRequest) -> Any:
        transmission = {
            field: required_header(request.headers, header)
            for field, header in WEBHOOK_HEADERS.items()
        }
        # PayPal's verification call takes the event back inside a JSON
        # request, as sent: a body that is no JSON cannot be verified. One in
        # another encoding (a BOM, UTF-16) goes as its text in UTF-8, so a
        # forged one is refused as forged; confirmed, its encoding is refused
        # before it is read. JSON but no object: verified, stored unusable.
        text = signature_text(request.body)
        event = json_body(text, what="a PayPal event (JSON in UTF-8)")
        sent_at = iso_time(transmission["transmission_time"])
        if sent_at is None:
            raise WebhookVerificationError(
                "PAYPAL-TRANSMISSION-TIME is not a date and time.",
                code=WebhookVerificationError.MALFORMED,
                param=WEBHOOK_HEADERS["transmission_time"],
            )
        # Stale is refused before PayPal is asked. PayPal retries a delivery
        # for about three days, so any time in that period is accepted; its
        # verification call and the event-id dedupe stop forgeries and replays.
        check_retry_window(
            sent_at.timestamp(),
            retry_period=PAYPAL_RETRY_PERIOD_SECONDS,
            tolerance=settings.WEBHOOK_TOLERANCE_SECONDS,
            param=WEBHOOK_HEADERS["transmission_time"],
        )
        if not self._signature_verified(transmission, request.secret, text.encode()):
            raise WebhookVerificationError(
                "PayPal did not confirm the webhook signature.",
                code=WebhookVerificationError.FORGED,
            )
        # Passed, the text is the body as sent: the event is read from it.
        self.check_webhook_encoding(request.body)
        return event

    def webhook_stored_verified(self, request: SignedRequest) -> dict[str, Any]:
        return json_object(request.body, what="a PayPal event")

    def webhook_message(self, request: SignedRequest, verified: Any) -> WebhookMessage:
        if not isinstance(verified, dict):
            verified = json_object(request.body, what="a PayPal event")  # MALFORMED
        return WebhookMessage.build(
            event_type=required_str(verified, "event_type", what="PayPal event"),
            dedupe_key=required_str(verified, "id", what="PayPal event"),
            payload=verified,
            occurred_at=iso_time(verified.get("create_time")),
        )

    def _signature_verified(
        self, transmission: dict[str, str], webhook_id: str, body: bytes
    ) -> bool:
        # The event goes back byte for byte, whitespace included: PayPal's
        # check is of the event as it sent it, and JSON allows the whitespace.
        fields = {**transmission, "webhook_id": webhook_id}
        head = json.dumps(fields, separators=(",", ":"))[:-1]
        payload = head.encode() + b',"webhook_event":' + body + b"}"
        answer = self.send(
            "POST",
            "/v1/notifications/verify-webhook-signature",
            operation="paypal_verify_webhook",
            data=payload,
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
        refund_reference = ""
        if kind is PaymentEventKind.REFUNDED:
            refund_reference = str(resource.get("id", ""))
        # A declined capture's processor response: the create's translation.
        declined = kind is PaymentEventKind.FAILED_FINAL and bool(
            resource.get("processor_response")
        )
        return PaymentEvent(
            kind=kind,
            provider_reference=self._order_id_of(resource),
            amount=self._amount(resource, currency) if currency else None,
            currency=currency,
            refund_reference=refund_reference,
            occurred_at=occurred_at,
            decline=decline(resource) if declined else None,
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
            amount=self._amount({"amount": money}, currency) if currency else None,
            currency=currency,
            dispute_reference=str(resource.get("dispute_id", "")),
            dispute_status=str(outcome or resource.get("status", "")),
            occurred_at=occurred_at,
        )

    def _order_id_of(self, resource: dict[str, Any]) -> str:
        related = (resource.get("supplementary_data") or {}).get("related_ids") or {}
        if related.get("order_id"):
            return str(related["order_id"])
        capture_id = related.get("capture_id") or link_id(resource, "up", "captures")
        if capture_id:
            # Refunds and reversals point at their capture, not the order.
            return self._order_of_capture(capture_id)
        return ""

    def _order_of_capture(self, capture_id: str) -> str:
        capture = self.send(
            "GET",
            f"/v2/payments/captures/{_segment(capture_id)}",
            operation="paypal_get_capture",
        )
        related = (capture.get("supplementary_data") or {}).get("related_ids") or {}
        return str(related.get("order_id") or link_id(capture, "up", "orders") or "")

    # --- Orders as we read them --------------------------------------------

    def _get_order(self, order_id: str) -> dict[str, Any]:
        return self.send(
            "GET",
            f"/v2/checkout/orders/{_segment(order_id)}",
            operation="paypal_get_order",
        )

    def _money(self, amount: int, currency: str) -> dict[str, str]:
        code = (currency or "").upper()
        if code not in SUPPORTED_CURRENCIES:
            raise Rejected(
                f"PayPal does not support payments in {code or 'this currency'}",
                code="currency_not_supported",
            )
        return {"currency_code": code, "value": self.to_provider_decimal(amount, code)}

    def _amount(self, resource: Mapping[str, Any], currency: str) -> int:
        value = (resource.get("amount") or {}).get("value")
        return self.from_provider_decimal(value, currency) or 0

    def _sum_amounts(
        self, items: list[dict[str, Any]], statuses: tuple[str, ...], currency: str
    ) -> int:
        return sum(
            self._amount(i, currency) for i in items if i.get("status") in statuses
        )

    def _check_order_matches(
        self, order: Mapping[str, Any], request: PaymentRequest
    ) -> None:
        # An order approved for another of our orders never pays this one,
        # even for the same amount.
        if names_another_order(order, request.order_id):
            raise Rejected(
                "the approved PayPal order was made for another order",
                code="order_mismatch",
            )
        unit_amount = purchase_unit(order).get("amount") or {}
        currency = str(unit_amount.get("currency_code", ""))
        if currency != request.currency.upper() or (
            self._amount({"amount": unit_amount}, currency) != request.amount
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

    def _order_result(
        self, order: Mapping[str, Any], currency: str, *, raise_decline: bool = True
    ) -> PaymentResult:
        captures = order_payments(order, "captures")
        authorizations = order_payments(order, "authorizations")
        captured = self._sum_amounts(captures, CAPTURED_STATUSES, currency)
        authorization = latest(authorizations, (*OPEN_AUTHORIZATION, "CAPTURED"))
        last = (captures or authorizations or [{}])[-1]
        raw = str(last.get("status") or order.get("status", ""))
        status = order_status(order, raw, bool(captured), authorization)
        failed = decline(last) if status is ProviderStatus.FAILED else None
        if raise_decline and failed is not None:
            raise failed
        source = order.get("payment_source") or {}
        card = source.get("card") or {}
        return PaymentResult(
            status=status,
            provider_reference=str(order.get("id", "")),
            currency=currency,
            amount_authorized=(
                self._amount(authorization, currency) if authorization else captured
            ),
            amount_captured=captured,
            card_brand=str(card.get("brand", "")).lower(),
            card_last4=str(card.get("last_digits", "")),
            wallet="" if card else next(iter(source), ""),
            raw_status=raw,
            order_id=our_order_id(order),
            decline=failed,
        )

    def _refundable_capture(
        self, order: Mapping[str, Any], amount: int, currency: str
    ) -> str:
        refunded: dict[str, int] = {}
        for refund in order_payments(order, "refunds"):
            if refund.get("status") in ("COMPLETED", "PENDING"):
                capture_id = link_id(refund, "up", "captures")
                refunded[capture_id] = refunded.get(capture_id, 0) + self._amount(
                    refund, currency
                )
        for capture in order_payments(order, "captures"):
            if capture.get("status") not in REFUNDABLE_CAPTURE:
                continue
            left = self._amount(capture, currency) - refunded.get(capture.get("id"), 0)
            if left >= amount:
                return str(capture["id"])
        raise Rejected(
            "no capture on this PayPal order has that much left to refund",
            code="amount_too_large",
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
