"""Square Payments API (v2) over the account's ProviderClient; no SDK.

- Idempotency keys travel in the JSON body and Square allows at most 45
  characters, so every key sent is derived from ours: ``sy_`` plus the first
  42 hex digits of its SHA-256. The same key of ours always gives the same
  Square key, which is what cancel by idempotency key relies on.
- Square replays a request carrying the same idempotency key, so every call is
  safe for the client to retry; complete and cancel are state transitions that
  a repeat cannot double.
- Every payment is created with ``autocomplete=false`` (status ``APPROVED``,
  ``delay_action=CANCEL``), also when capture is wanted: ``capture`` is a
  second call, CompletePayment. This is what makes an ``unknown`` create safe.
  CancelPaymentByIdempotencyKey voids only an ``APPROVED`` payment; had the
  lost create used ``autocomplete=true`` the payment could be ``COMPLETED``
  (customer charged) while the cancel answers 200 and we would mark it
  failed. With delayed capture a lost create is at most an approval, which
  the cancel voids, so ``cancel_by_idempotency_key`` answers True ("nothing
  charged") and the service may settle the payment ``failed``.
  ``capture_after_authorize`` tells the service to create with
  ``capture=False``, store the payment id, then call ``capture``: a lost
  complete therefore always has a ``provider_reference`` that reconciliation
  reads with GetPayment (``COMPLETED`` -> captured, ``APPROVED`` -> authorized,
  and the service completes it again). Called directly with ``capture=True``,
  ``authorize`` does both calls itself and reports a failed complete as
  ``Unknown`` (the approval exists; never fail over).
  Delayed capture is offered for card (and card-based wallet) payments,
  which are the sources we accept; an approval nobody completes is cancelled
  by Square after ``delay_duration`` (7 days card-not-present).
- A partial capture first lowers the approved payment's amount
  (UpdatePayment), then completes it against the version it saw.
- Square cannot look a payment up by idempotency key: ``retrieve`` with only
  a key raises ``Unknown(lookup_not_supported)``, and reconciliation then
  cancels by idempotency key (``supports_cancel_by_idempotency_key``), which
  leaves nothing charged under that key (see above).
- Webhooks: ``x-square-hmacsha256-signature`` is the base64 HMAC-SHA256, keyed
  with the subscription's signature key, of the notification URL followed by
  the raw body. Square signs no timestamp (it retries deliveries for days), so
  there is no staleness window: a replay is caught by its ``event_id``.
"""

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import quote

import requests

from integrations import money
from integrations.client import client_for, response_json
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

PROVIDER = "square"
SQUARE_VERSION = "2025-08-20"
SIGNATURE_HEADER = "x-square-hmacsha256-signature"
MAX_KEY_LENGTH = 45
KEY_PREFIX = "sy_"

DECLINE_MAP: Mapping[str, str] = {
    "GENERIC_DECLINE": "card_declined",
    "CARD_DECLINED": "card_declined",
    "CARD_DECLINED_CALL_ISSUER": "card_declined",
    "CARD_NOT_SUPPORTED": "card_declined",
    "CARDHOLDER_INSUFFICIENT_PERMISSIONS": "card_declined",
    "TRANSACTION_LIMIT": "card_declined",
    "VOICE_FAILURE": "card_declined",
    "ADDRESS_VERIFICATION_FAILURE": "card_declined",
    "INVALID_ACCOUNT": "card_declined",
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
    "CARD_DECLINED_VERIFICATION_REQUIRED": "authentication_required",
}
AUTH_CODES = frozenset(
    {"UNAUTHORIZED", "ACCESS_TOKEN_EXPIRED", "ACCESS_TOKEN_REVOKED", "V1_ACCESS_TOKEN"}
)
PERMISSION_CODES = frozenset({"FORBIDDEN", "INSUFFICIENT_SCOPES"})

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
    "FAILED": PaymentEventKind.FAILED,
    "CANCELED": PaymentEventKind.VOIDED,
}
DISPUTE_EVENTS = frozenset(
    {"dispute.created", "dispute.state.updated", "dispute.state.changed"}
)
DISPUTE_CLOSED_STATES = frozenset({"WON", "LOST", "ACCEPTED", "INQUIRY_CLOSED"})


def square_idempotency_key(key: str) -> str:
    """Our idempotency key as one Square accepts (45 characters at most)."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    return (KEY_PREFIX + digest)[:MAX_KEY_LENGTH]


# --- Errors -----------------------------------------------------------------


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


# --- Translation ------------------------------------------------------------


def _money(amount: int, currency: str) -> dict[str, Any]:
    try:
        value = money.to_provider_minor(amount, currency, provider=PROVIDER)
    except money.MoneyError as exc:
        raise Rejected(str(exc), code="invalid_amount") from None
    return {"amount": value, "currency": currency.upper()}


def _amount(value: Any, currency: str) -> int:
    if not isinstance(value, Mapping):
        return 0
    amount = value.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool) or not currency:
        return 0
    return money.from_provider_minor(amount, currency, provider=PROVIDER)


def _currency(*monies: Any) -> str:
    for value in monies:
        if isinstance(value, Mapping) and value.get("currency"):
            return str(value["currency"]).upper()
    return ""


def payment_result(payment: Mapping[str, Any]) -> PaymentResult:
    """A Square Payment (as a dict) in our terms."""
    raw_status = str(payment.get("status") or "")
    status = PAYMENT_STATUS.get(raw_status, ProviderStatus.PENDING)
    amount_money = payment.get("amount_money")
    currency = _currency(amount_money, payment.get("approved_money"))
    amount = _amount(amount_money, currency)
    approved = _amount(payment.get("approved_money"), currency) or amount
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
    )


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


# --- The adapter ------------------------------------------------------------


class SquareAdapter(PaymentsAdapter):
    code = "square"
    display_name = "Square"
    supports_cancel_by_idempotency_key = True
    capture_after_authorize = True
    max_idempotency_key_length = MAX_KEY_LENGTH
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
    # Not account settings: the access token must only ever go to Square.
    # Tests point these at 127.0.0.1.
    sandbox_base: ClassVar[str] = "https://connect.squareupsandbox.com"
    live_base: ClassVar[str] = "https://connect.squareup.com"

    # --- Plumbing ------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.live_base if self.account.mode == "live" else self.sandbox_base

    def _headers(self) -> dict[str, str]:
        token = str(self.credentials.get("access_token") or "")
        if not token:
            raise ConfigurationError(
                "Square access token is not set", code="missing_credentials"
            )
        return {
            "Authorization": f"Bearer {token}",
            "Square-Version": SQUARE_VERSION,
            "Accept": "application/json",
        }

    def _send(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        key = body.get("idempotency_key") if body else None
        response = client_for(self.account).request(
            method,
            self.base_url + path,
            operation=operation,
            idempotent=True,
            # Square reads the key from the body; the row records the same key.
            idempotency_key=key,
            idempotency_header=None,
            error_map=map_square_response,
            expect_json=True,
            headers=self._headers(),
            json=body,
        )
        data = response_json(response)
        if not isinstance(data, dict):
            raise Unknown("Square sent an unexpected body", code="malformed_response")
        return data

    @staticmethod
    def _path_id(value: str) -> str:
        return quote(value, safe="")

    # --- Payments ------------------------------------------------------------

    def authorize(self, request: PaymentRequest) -> PaymentResult:
        body: dict[str, Any] = {
            "source_id": request.source_token,
            "idempotency_key": square_idempotency_key(request.idempotency_key),
            "amount_money": _money(request.amount, request.currency),
            # Always delayed capture: see the module docstring.
            "autocomplete": False,
            "delay_action": "CANCEL",
            "reference_id": request.order_id[:40],
        }
        location_id = self.setting("location_id")
        if location_id:
            body["location_id"] = location_id
        if request.provider_customer_id:
            body["customer_id"] = request.provider_customer_id
        if request.customer_email:
            body["buyer_email_address"] = request.customer_email
        if request.description:
            body["note"] = request.description[:500]
        data = self._send("POST", "/v2/payments", operation="create_payment", body=body)
        created = data.get("payment") or {}
        result = payment_result(created)
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
        data = self._send(
            "POST",
            f"/v2/payments/{self._path_id(payment_id)}/complete",
            operation="capture_payment",
            body=body,
        )
        return payment_result(data.get("payment") or {})

    def capture(self, request: CaptureRequest) -> PaymentResult:
        payment_id = self._path_id(request.provider_reference)
        current = (
            self._send(
                "GET", f"/v2/payments/{payment_id}", operation="retrieve_payment"
            ).get("payment")
            or {}
        )
        currency = _currency(current.get("amount_money")) or request.currency
        if current.get("status") == "COMPLETED":
            # A repeat of a complete that did land (its answer was lost).
            return payment_result(current)
        if _amount(current.get("amount_money"), currency) > request.amount:
            current = self._lower_amount(request, current)
        return self._complete(request.provider_reference, current)

    def _lower_amount(
        self, request: CaptureRequest, current: Mapping[str, Any]
    ) -> dict[str, Any]:
        payment: dict[str, Any] = {
            "amount_money": _money(request.amount, request.currency)
        }
        if current.get("version_token"):
            payment["version_token"] = current["version_token"]
        data = self._send(
            "PUT",
            f"/v2/payments/{self._path_id(request.provider_reference)}",
            operation="update_payment_amount",
            body={
                "idempotency_key": square_idempotency_key(
                    f"{request.idempotency_key}:amount"
                ),
                "payment": payment,
            },
        )
        return data.get("payment") or {}

    def void(self, *, provider_reference: str, idempotency_key: str) -> PaymentResult:
        data = self._send(
            "POST",
            f"/v2/payments/{self._path_id(provider_reference)}/cancel",
            operation="void_payment",
        )
        return payment_result(data.get("payment") or {})

    def cancel_by_idempotency_key(self, idempotency_key: str) -> bool:
        # Square answers 200 whether or not a payment had this key. Every
        # payment we create is delayed-capture, so whatever the key created
        # was at most APPROVED and is now CANCELED: nothing charged.
        self._send(
            "POST",
            "/v2/payments/cancel",
            operation="cancel_by_idempotency_key",
            body={"idempotency_key": square_idempotency_key(idempotency_key)},
        )
        return True

    def refund(self, request: RefundRequest) -> RefundResult:
        body: dict[str, Any] = {
            "idempotency_key": square_idempotency_key(request.idempotency_key),
            "payment_id": request.provider_reference,
            "amount_money": _money(request.amount, request.currency),
        }
        if request.reason:
            body["reason"] = request.reason[:192]
        data = self._send("POST", "/v2/refunds", operation="refund_payment", body=body)
        refund = data.get("refund") or {}
        currency = _currency(refund.get("amount_money")) or request.currency.upper()
        return RefundResult(
            provider_reference=str(refund.get("id") or ""),
            status=REFUND_STATUS.get(str(refund.get("status")), RefundStatus.PENDING),
            amount=_amount(refund.get("amount_money"), currency),
            currency=currency,
        )

    def retrieve(
        self,
        *,
        provider_reference: str = "",
        idempotency_key: str = "",
        lookup: PaymentLookup | None = None,
    ) -> PaymentResult | None:
        if not provider_reference:
            # Square has no look-up by idempotency key: the caller cancels by
            # key instead (cancel_by_idempotency_key).
            raise Unknown(
                "Square cannot look a payment up by idempotency key",
                code="lookup_not_supported",
            )
        try:
            data = self._send(
                "GET",
                f"/v2/payments/{self._path_id(provider_reference)}",
                operation="retrieve_payment",
            )
        except Rejected as error:
            if error.code == "not_found":
                return None
            raise
        return payment_result(data.get("payment") or {})

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
            self._send("POST", "/v2/cards", operation="save_method", body=body).get(
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
        data = self._send(
            "POST", "/v2/customers", operation="create_customer", body=body
        )
        customer_id = (data.get("customer") or {}).get("id")
        if not customer_id:
            raise Unknown("Square returned no customer id", code="malformed_response")
        return str(customer_id)

    # --- Health --------------------------------------------------------------

    def health_check(self) -> HealthResult:
        data = self._send("GET", "/v2/locations", operation="health_check")
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

    def verify_webhook(
        self, *, body: bytes, headers: Mapping[str, str], url: str
    ) -> WebhookMessage:
        key = str(self.credentials.get("webhook_signature_key") or "")
        if not key:
            raise WebhookVerificationError(
                "No webhook signature key is configured for this account.",
                code=WebhookVerificationError.MISSING_SECRET,
            )
        signature = (
            headers.get(SIGNATURE_HEADER)
            or headers.get("X-Square-HmacSha256-Signature")
            or ""
        ).strip()
        if not signature:
            raise WebhookVerificationError(
                f"The {SIGNATURE_HEADER} header is missing.",
                code=WebhookVerificationError.MISSING_HEADER,
                param=SIGNATURE_HEADER,
            )
        notification_url = str(self.setting("notification_url") or url)
        expected = sign_webhook(key=key, notification_url=notification_url, body=body)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise WebhookVerificationError(
                "The Square webhook signature does not match.",
                code=WebhookVerificationError.FORGED,
                param=SIGNATURE_HEADER,
            )
        return _message(body)

    def parse_payment_event(self, message: WebhookMessage) -> PaymentEvent | None:
        data = message.payload.get("data") or {}
        obj = data.get("object") if isinstance(data, Mapping) else None
        if not isinstance(obj, Mapping):
            return None
        event_type = message.event_type
        if event_type in ("payment.created", "payment.updated"):
            return _payment_event(obj.get("payment") or {}, message.occurred_at)
        if event_type in ("refund.created", "refund.updated"):
            return _refund_event(obj.get("refund") or {}, message.occurred_at)
        if event_type in DISPUTE_EVENTS:
            return _dispute_event(obj.get("dispute") or {}, message.occurred_at)
        return None


def sign_webhook(*, key: str, notification_url: str, body: bytes) -> str:
    """The ``x-square-hmacsha256-signature`` value for a request."""
    digest = hmac.new(
        key.encode("utf-8"), notification_url.encode("utf-8") + body, hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def _message(body: bytes) -> WebhookMessage:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        payload = None
    event_id = payload.get("event_id") if isinstance(payload, dict) else None
    event_type = payload.get("type") if isinstance(payload, dict) else None
    if not (isinstance(event_id, str) and event_id and isinstance(event_type, str)):
        raise WebhookVerificationError(
            "The webhook body is not a Square event.",
            code=WebhookVerificationError.MALFORMED,
        )
    return WebhookMessage(
        event_type=event_type[:128],
        dedupe_key=event_id[:255],
        payload=payload,
        occurred_at=_parse_time(payload.get("created_at")),
    )


def _payment_event(
    payment: Mapping[str, Any], occurred_at: datetime | None
) -> PaymentEvent | None:
    kind = PAYMENT_EVENT_KINDS.get(str(payment.get("status") or ""))
    if kind is None:
        return None
    currency = _currency(payment.get("amount_money"))
    field = "approved_money" if kind is PaymentEventKind.AUTHORIZED else "amount_money"
    amount = _amount(payment.get(field), currency) or _amount(
        payment.get("amount_money"), currency
    )
    return PaymentEvent(
        kind=kind,
        provider_reference=str(payment.get("id") or ""),
        amount=amount,
        currency=currency,
        occurred_at=occurred_at,
    )


def _refund_event(
    refund: Mapping[str, Any], occurred_at: datetime | None
) -> PaymentEvent | None:
    # Only a completed refund moves money; pending ones are announced later.
    if refund.get("status") != "COMPLETED":
        return None
    currency = _currency(refund.get("amount_money"))
    return PaymentEvent(
        kind=PaymentEventKind.REFUNDED,
        provider_reference=str(refund.get("payment_id") or ""),
        amount=_amount(refund.get("amount_money"), currency),
        currency=currency,
        refund_reference=str(refund.get("id") or ""),
        occurred_at=occurred_at,
    )


def _dispute_event(
    dispute: Mapping[str, Any], occurred_at: datetime | None
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
        amount=_amount(dispute.get("amount_money"), currency),
        currency=currency,
        dispute_reference=str(dispute.get("id") or dispute.get("dispute_id") or ""),
        dispute_status=state.lower(),
        occurred_at=occurred_at,
    )
