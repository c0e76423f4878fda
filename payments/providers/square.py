"""Square Payments API (v2) as JSON over HTTP on the shared client; no SDK.
Why every payment is delayed-capture, and how keys and look-ups work:
docs/providers/payments.md."""

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

import requests

from integrations.errors import ProviderError, Unknown
from integrations.providers.base import ConfigField, HealthResult, SignedRequest
from integrations.providers.http import HttpAdapter, path_segment
from integrations.webhooks.messages import (
    WebhookMessage,
    iso_time,
    json_object,
    required_str,
)
from integrations.webhooks.signing import hmac_base64, require_match
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
from payments.providers.square_errors import map_square_response, payment_decline

SQUARE_VERSION = "2025-08-20"
SIGNATURE_HEADER = "x-square-hmacsha256-signature"
MAX_KEY_LENGTH = 45
KEY_PREFIX = "sy_"

PAYMENT_STATUS: Mapping[str, ProviderStatus] = {
    "PENDING": ProviderStatus.PENDING,
    "APPROVED": ProviderStatus.AUTHORIZED,
    "COMPLETED": ProviderStatus.CAPTURED,
    "CANCELED": ProviderStatus.VOIDED,
    "FAILED": ProviderStatus.FAILED,
}
REFUND_STATUS: Mapping[str, RefundStatus] = {
    "PENDING": RefundStatus.PENDING,
    "COMPLETED": RefundStatus.SUCCEEDED,
    "REJECTED": RefundStatus.FAILED,
    "FAILED": RefundStatus.FAILED,
}
PAYMENT_EVENT_KINDS: Mapping[str, PaymentEventKind] = {
    "APPROVED": PaymentEventKind.AUTHORIZED,
    "COMPLETED": PaymentEventKind.SUCCEEDED,
    # Terminal at Square, also after APPROVED: the money was not collected.
    "FAILED": PaymentEventKind.FAILED_FINAL,
    "CANCELED": PaymentEventKind.VOIDED,
}
DISPUTE_EVENTS = frozenset(
    {"dispute.created", "dispute.state.updated", "dispute.state.changed"}
)
DISPUTE_CLOSED_STATES = frozenset({"WON", "LOST", "ACCEPTED", "INQUIRY_CLOSED"})


# A payment's reference_id keeps 40 characters, its note 500 (api.json):
# an order id that fills reference_id goes whole into the note's first line.
REFERENCE_ID_MAX = 40
NOTE_MAX = 500
ORDER_NOTE = "order_id: "


def _note(request: PaymentRequest) -> str:
    lines = [request.description] if request.description else []
    if len(request.order_id) >= REFERENCE_ID_MAX:
        lines.insert(0, ORDER_NOTE + request.order_id)
    return "\n".join(lines)[:NOTE_MAX]


def _order_id_of(payment: Mapping[str, Any]) -> str:
    """Our whole order id as the payment keeps it: the note's first line
    when we put it there, else a reference_id shorter than Square's limit;
    "" when it may be cut (a payment made before the note carried it)."""
    reference = str(payment.get("reference_id") or "")
    first_line = str(payment.get("note") or "").split("\n", 1)[0]
    if first_line.startswith(ORDER_NOTE):
        whole = first_line[len(ORDER_NOTE) :]
        return whole if whole.startswith(reference) else reference
    return reference if len(reference) < REFERENCE_ID_MAX else ""


def square_idempotency_key(key: str) -> str:
    """Our idempotency key as one Square accepts (45 characters at most)."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    return (KEY_PREFIX + digest)[:MAX_KEY_LENGTH]


def _currency(*monies: Any) -> str:
    for value in monies:
        if isinstance(value, Mapping) and value.get("currency"):
            return str(value["currency"]).upper()
    return ""


# --- The adapter ------------------------------------------------------------


class SquareAdapter(HttpAdapter, PaymentsAdapter):
    code = "square"
    display_name = "Square"
    supports_cancel_by_idempotency_key = True
    capture_after_authorize = True
    max_idempotency_key_length = MAX_KEY_LENGTH
    # A card on file (Cards API); a one-time source is a nonce (cnon:...).
    saved_method_format = r"ccof:.+"
    saved_method_only = True
    webhook_signs_url = True  # HMAC over notification URL + body
    credential_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField(
            "access_token",
            "Access token",
            help_text="The application's sandbox or production access token.",
        ),
        ConfigField(
            "webhook_signature_key",
            "Webhook signature key",
            required=False,
            help_text="From the webhook subscription in the Developer Console.",
        ),
    )
    settings_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField(
            "location_id",
            "Location ID",
            required=False,
            help_text="Payments are taken at this location (default: the main one).",
        ),
        ConfigField(
            "notification_url",
            "Webhook notification URL",
            type="url",
            required=False,
            help_text="Exactly the URL configured in the Square subscription; "
            "Square signs it with the body.",
        ),
    )
    base_urls: ClassVar[Mapping[str, str]] = {
        "test": "https://connect.squareupsandbox.com",
        "live": "https://connect.squareup.com",
    }
    # Square reads the key from the body and replays a request carrying it.
    idempotency_header = None
    idempotency_body_field = "idempotency_key"
    replays_writes = True
    webhook_signing_credential = "webhook_signature_key"
    webhook_signs_body = True  # its signature covers the raw bytes
    webhook_signature_header = SIGNATURE_HEADER

    def auth_headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.credential('access_token')}",
            "Square-Version": SQUARE_VERSION,
        }

    def error_map(self, response: requests.Response) -> ProviderError | None:
        return map_square_response(response)

    # --- Payments ------------------------------------------------------------

    def authorize(self, request: PaymentRequest) -> PaymentResult:
        body: dict[str, Any] = {
            "source_id": request.source_token,
            "idempotency_key": square_idempotency_key(request.idempotency_key),
            "amount_money": self._money(request.amount, request.currency),
            # Always delayed capture: see the module docstring.
            "autocomplete": False,
            "delay_action": "CANCEL",
            "reference_id": request.order_id[:REFERENCE_ID_MAX],
        }
        note = _note(request)
        if note:
            body["note"] = note
        location_id = self.setting("location_id")
        if location_id:
            body["location_id"] = location_id
        if request.provider_customer_id:
            body["customer_id"] = request.provider_customer_id
        if request.customer_email:
            body["buyer_email_address"] = request.customer_email
        data = self.send("POST", "/v2/payments", operation="create_payment", json=body)
        created = data.get("payment") or {}
        result = self._payment_result(created)
        if not request.capture or result.status is not ProviderStatus.AUTHORIZED:
            return result
        try:
            return self._complete(result.provider_reference, created)
        except ProviderError as error:
            # The approval exists at Square: an unknown outcome, never a
            # reason to try another gateway or to call the payment declined.
            raise Unknown(
                "Square approved the payment but completing it failed",
                code="complete_failed",
                http_status=error.http_status,
                provider_code=error.provider_code,
            ) from error

    def _complete(self, payment_id: str, current: Mapping[str, Any]) -> PaymentResult:
        body: dict[str, Any] = {}
        if current.get("version_token"):
            body["version_token"] = current["version_token"]
        data = self.send(
            "POST",
            f"/v2/payments/{path_segment(payment_id)}/complete",
            operation="capture_payment",
            json=body,
        )
        return self._payment_result(data.get("payment") or {})

    def capture(self, request: CaptureRequest) -> PaymentResult:
        payment_id = path_segment(request.provider_reference)
        current = (
            self.send(
                "GET", f"/v2/payments/{payment_id}", operation="retrieve_payment"
            ).get("payment")
            or {}
        )
        currency = _currency(current.get("amount_money")) or request.currency
        if current.get("status") == "COMPLETED":
            # A repeat of a complete that did land (its answer was lost).
            return self._payment_result(current)
        if self._amount(current.get("amount_money"), currency) > request.amount:
            current = self._lower_amount(request, current)
        return self._complete(request.provider_reference, current)

    def _lower_amount(
        self, request: CaptureRequest, current: Mapping[str, Any]
    ) -> dict[str, Any]:
        payment: dict[str, Any] = {
            "amount_money": self._money(request.amount, request.currency)
        }
        if current.get("version_token"):
            payment["version_token"] = current["version_token"]
        data = self.send(
            "PUT",
            f"/v2/payments/{path_segment(request.provider_reference)}",
            operation="update_payment_amount",
            json={
                "idempotency_key": square_idempotency_key(
                    f"{request.idempotency_key}:amount"
                ),
                "payment": payment,
            },
        )
        return data.get("payment") or {}

    def void(self, *, provider_reference: str, idempotency_key: str) -> PaymentResult:
        data = self.send(
            "POST",
            f"/v2/payments/{path_segment(provider_reference)}/cancel",
            operation="void_payment",
        )
        return self._payment_result(data.get("payment") or {})

    def cancel_by_idempotency_key(self, idempotency_key: str) -> bool:
        # Square answers 200 whether or not a payment had this key. Every
        # payment we create is delayed-capture, so whatever the key created
        # was at most APPROVED and is now CANCELED: nothing charged.
        self.send(
            "POST",
            "/v2/payments/cancel",
            operation="cancel_by_idempotency_key",
            json={"idempotency_key": square_idempotency_key(idempotency_key)},
        )
        return True

    def refund(self, request: RefundRequest) -> RefundResult:
        body: dict[str, Any] = {
            "idempotency_key": square_idempotency_key(request.idempotency_key),
            "payment_id": request.provider_reference,
            "amount_money": self._money(request.amount, request.currency),
        }
        if request.reason:
            body["reason"] = request.reason[:192]
        data = self.send("POST", "/v2/refunds", operation="refund_payment", json=body)
        refund = data.get("refund") or {}
        currency = _currency(refund.get("amount_money")) or request.currency.upper()
        return RefundResult(
            provider_reference=str(refund.get("id") or ""),
            status=REFUND_STATUS.get(str(refund.get("status")), RefundStatus.PENDING),
            amount=self._amount(refund.get("amount_money"), currency),
            currency=currency,
        )

    def retrieve_by_reference(self, provider_reference: str) -> PaymentResult:
        # Square has no look-up by idempotency key (the base refuses one): the
        # caller cancels by key instead (cancel_by_idempotency_key).
        data = self.send(
            "GET",
            f"/v2/payments/{path_segment(provider_reference)}",
            operation="retrieve_payment",
        )
        return self._payment_result(data.get("payment") or {})

    def save_method(self, request: SaveMethodRequest) -> SavedMethod:
        customer_id = request.provider_customer_id or self._create_customer(request)
        body = {
            "idempotency_key": square_idempotency_key(
                f"{request.idempotency_key}:card"
            ),
            "source_id": request.source_token,
            "card": {"customer_id": customer_id},
        }
        card = (
            self.send("POST", "/v2/cards", operation="save_method", json=body).get(
                "card"
            )
            or {}
        )
        return SavedMethod(
            provider_customer_id=customer_id,
            provider_method_id=str(card.get("id") or ""),
            card_brand=str(card.get("card_brand") or "").lower(),
            card_last4=str(card.get("last_4") or ""),
            exp_month=card.get("exp_month"),
            exp_year=card.get("exp_year"),
            card_fingerprint=str(card.get("fingerprint") or ""),
        )

    def _create_customer(self, request: SaveMethodRequest) -> str:
        body: dict[str, Any] = {
            "idempotency_key": square_idempotency_key(
                f"{request.idempotency_key}:customer"
            ),
            "reference_id": request.customer_reference[:100],
        }
        if request.customer_email:
            body["email_address"] = request.customer_email
        data = self.send(
            "POST", "/v2/customers", operation="create_customer", json=body
        )
        customer_id = (data.get("customer") or {}).get("id")
        if not customer_id:
            raise Unknown("Square returned no customer id", code="malformed_response")
        return str(customer_id)

    # --- Health --------------------------------------------------------------

    def health_check(self) -> HealthResult:
        data = self.send("GET", "/v2/locations", operation="health_check")
        ids = [str(loc.get("id")) for loc in data.get("locations") or []]
        location_id = self.setting("location_id")
        if location_id and location_id not in ids:
            return HealthResult(
                ok=False,
                detail="the configured location is not on this Square account",
                extra={"locations": len(ids)},
            )
        return HealthResult(
            ok=True, detail="Square locations listed", extra={"locations": len(ids)}
        )

    # --- Webhooks ------------------------------------------------------------

    def check_webhook_signature(self, request: SignedRequest) -> Any:
        notification_url = str(self.setting("notification_url") or request.url)
        expected = sign_webhook(
            key=request.secret, notification_url=notification_url, body=request.body
        )
        require_match(expected, [request.signature], param=SIGNATURE_HEADER)

    def webhook_message(self, request: SignedRequest, verified: Any) -> WebhookMessage:
        payload = json_object(request.body, what="a Square event")
        return WebhookMessage.build(
            event_type=required_str(payload, "type", what="Square event"),
            dedupe_key=required_str(payload, "event_id", what="Square event"),
            payload=payload,
            occurred_at=iso_time(payload.get("created_at")),
        )

    def parse_payment_event(self, message: WebhookMessage) -> PaymentEvent | None:
        data = message.payload.get("data") or {}
        obj = data.get("object") if isinstance(data, Mapping) else None
        if not isinstance(obj, Mapping):
            return None
        event_type = message.event_type
        if event_type in ("payment.created", "payment.updated"):
            return self._payment_event(obj.get("payment") or {}, message.occurred_at)
        if event_type in ("refund.created", "refund.updated"):
            return self._refund_event(obj.get("refund") or {}, message.occurred_at)
        if event_type in DISPUTE_EVENTS:
            return self._dispute_event(obj.get("dispute") or {}, message.occurred_at)
        return None

    # --- Translation ----------------------------------------------------------

    def _money(self, amount: int, currency: str) -> dict[str, Any]:
        return {
            "amount": self.to_provider_minor(amount, currency),
            "currency": currency.upper(),
        }

    def _amount(self, value: Any, currency: str) -> int:
        if not isinstance(value, Mapping) or not currency:
            return 0
        return self.from_provider_minor(value.get("amount"), currency) or 0

    def _payment_result(self, payment: Mapping[str, Any]) -> PaymentResult:
        """A Square Payment (as a dict) in our terms."""
        raw_status = str(payment.get("status") or "")
        status = PAYMENT_STATUS.get(raw_status, ProviderStatus.PENDING)
        amount_money = payment.get("amount_money")
        currency = _currency(amount_money, payment.get("approved_money"))
        amount = self._amount(amount_money, currency)
        approved = self._amount(payment.get("approved_money"), currency) or amount
        authorized = approved if status in (ProviderStatus.AUTHORIZED,) else 0
        captured = 0
        if status is ProviderStatus.CAPTURED:
            authorized, captured = approved, amount
        card = (payment.get("card_details") or {}).get("card") or {}
        wallet = payment.get("wallet_details") or {}
        return PaymentResult(
            status=status,
            provider_reference=str(payment.get("id") or ""),
            currency=currency,
            amount_authorized=authorized,
            amount_captured=captured,
            card_brand=str(card.get("card_brand") or "").lower(),
            card_last4=str(card.get("last_4") or ""),
            wallet=str(wallet.get("brand") or "").lower(),
            raw_status=raw_status,
            order_id=_order_id_of(payment),
            decline=payment_decline(payment)
            if status is ProviderStatus.FAILED
            else None,
        )

    def _payment_event(
        self, payment: Mapping[str, Any], occurred_at: datetime | None
    ) -> PaymentEvent | None:
        kind = PAYMENT_EVENT_KINDS.get(str(payment.get("status") or ""))
        if kind is None:
            return None
        currency = _currency(payment.get("amount_money"))
        field = (
            "approved_money" if kind is PaymentEventKind.AUTHORIZED else "amount_money"
        )
        amount = self._amount(payment.get(field), currency) or self._amount(
            payment.get("amount_money"), currency
        )
        return PaymentEvent(
            kind=kind,
            provider_reference=str(payment.get("id") or ""),
            amount=amount,
            currency=currency,
            occurred_at=occurred_at,
            decline=payment_decline(payment)
            if kind is PaymentEventKind.FAILED_FINAL
            else None,
        )

    def _refund_event(
        self, refund: Mapping[str, Any], occurred_at: datetime | None
    ) -> PaymentEvent | None:
        # Only a completed refund moves money; pending ones are announced later.
        if refund.get("status") != "COMPLETED":
            return None
        currency = _currency(refund.get("amount_money"))
        return PaymentEvent(
            kind=PaymentEventKind.REFUNDED,
            provider_reference=str(refund.get("payment_id") or ""),
            amount=self._amount(refund.get("amount_money"), currency),
            currency=currency,
            refund_reference=str(refund.get("id") or ""),
            occurred_at=occurred_at,
        )

    def _dispute_event(
        self, dispute: Mapping[str, Any], occurred_at: datetime | None
    ) -> PaymentEvent:
        state = str(dispute.get("state") or "")
        currency = _currency(dispute.get("amount_money"))
        closed = state in DISPUTE_CLOSED_STATES
        return PaymentEvent(
            kind=PaymentEventKind.DISPUTE_CLOSED
            if closed
            else PaymentEventKind.DISPUTE_OPENED,
            provider_reference=str(
                (dispute.get("disputed_payment") or {}).get("payment_id") or ""
            ),
            amount=self._amount(dispute.get("amount_money"), currency),
            currency=currency,
            dispute_reference=str(dispute.get("id") or dispute.get("dispute_id") or ""),
            dispute_status=state.lower(),
            occurred_at=occurred_at,
        )


def sign_webhook(*, key: str, notification_url: str, body: bytes) -> str:
    """The ``x-square-hmacsha256-signature`` value for a request."""
    return hmac_base64(key, notification_url.encode("utf-8") + body)
