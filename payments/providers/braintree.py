"""Braintree through the official ``braintree`` SDK on the shared client:
sales, settlement, voids, refunds, vaulting, webhooks. How the SDK is pointed
at our session, why calls carry ``api_request_key``, merchant accounts per
currency and look-up by search: docs/providers/payments.md."""

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property
from typing import Any, ClassVar

import braintree
from braintree.exceptions import InvalidSignatureError

from integrations.errors import ProviderError, Rejected, Unknown
from integrations.providers.base import ConfigField, HealthResult, SignedRequest
from integrations.providers.sdk import SdkAdapter
from integrations.webhooks.messages import WebhookMessage
from integrations.webhooks.verification import (
    UnusableWebhook,
    WebhookVerificationError,
)
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
from payments.providers.braintree_sdk import (
    CAPTURED_STATUSES,
    FAILED_STATUSES,
    SessionHttp,
    forged_signature,
    map_exception,
    refusal,
    session_strategy,
    signed_with,
    stored_notification,
    transaction_decline,
    transaction_status,
    webhook_form_fields,
)

# A failed transaction's codes a notification keeps (transaction_decline).
DECLINE_FIELDS = (
    "processor_response_code",
    "processor_settlement_response_code",
    "gateway_rejection_reason",
    "merchant_advice_code",
)
EVENT_KINDS: Mapping[str, PaymentEventKind] = {
    "transaction_settled": PaymentEventKind.SUCCEEDED,
    "transaction_settlement_declined": PaymentEventKind.FAILED_FINAL,
    "dispute_opened": PaymentEventKind.DISPUTE_OPENED,
    "dispute_won": PaymentEventKind.DISPUTE_CLOSED,
    "dispute_lost": PaymentEventKind.DISPUTE_CLOSED,
    "dispute_accepted": PaymentEventKind.DISPUTE_CLOSED,
}


class BraintreeAdapter(SdkAdapter, PaymentsAdapter):
    # Braintree signs with the private key; the signature is in the form body.
    webhook_signing_credential = "private_key"
    webhook_body_format = "a form in UTF-8"  # bt_signature, bt_payload
    # A lost sale is found by search (order id, amount), and the search index
    # lags behind new transactions; Braintree publishes no bound, so a miss
    # is final only after Stripe's documented worst case, an hour.
    lookup_lag_seconds = 3600
    # A vault payment method token (letters, digits, - and _, at most 36);
    # nonces can have that form too: only a stored one is refused.
    saved_method_format: ClassVar[str] = r"[A-Za-z0-9_-]{1,36}"
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
            "amount": self.to_provider_decimal(request.amount, request.currency),
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
        gateway = self.gateway
        result = self.run(
            "braintree_sale",
            lambda ctx: succeeded(gateway.transaction.sale(params)),
            idempotency_key=request.idempotency_key,
        )
        return self._payment_result(result.transaction)

    def capture(self, request: CaptureRequest) -> PaymentResult:
        amount = self.to_provider_decimal(request.amount, request.currency)
        options = {"api_request_key": request.idempotency_key}
        reference = request.provider_reference
        final = request.final

        transactions = self.gateway.transaction
        # A non-final capture leaves the rest of the authorization open.
        submit = (
            transactions.submit_for_settlement
            if final
            else transactions.submit_for_partial_settlement
        )
        result = self.run(
            "braintree_submit_for_settlement",
            lambda ctx: succeeded(submit(reference, amount, options)),
            idempotency_key=request.idempotency_key,
        )
        transaction = result.transaction
        return PaymentResult(
            status=transaction_status(transaction.status),
            provider_reference=reference,
            currency=transaction.currency_iso_code,
            amount_captured=self._minor(
                transaction.amount, transaction.currency_iso_code
            )
            or 0,
            raw_status=transaction.status,
            # A partial settlement is a child transaction: refunds name it.
            capture_reference=str(transaction.id or ""),
        )

    def void(self, *, provider_reference: str, idempotency_key: str) -> PaymentResult:
        gateway = self.gateway
        result = self.run(
            "braintree_void",
            lambda ctx: succeeded(
                gateway.transaction.void(
                    provider_reference, {"api_request_key": idempotency_key}
                )
            ),
            idempotency_key=idempotency_key,
        )
        return self._payment_result(result.transaction)

    def refund(self, request: RefundRequest) -> RefundResult:
        options = {
            "amount": self.to_provider_decimal(request.amount, request.currency),
            "api_request_key": request.idempotency_key,
        }
        gateway = self.gateway
        result = self.run(
            "braintree_refund",
            lambda ctx: succeeded(
                gateway.transaction.refund(request.provider_reference, options)
            ),
            idempotency_key=request.idempotency_key,
        )
        refund = result.transaction
        if refund.status in CAPTURED_STATUSES:
            status = RefundStatus.SUCCEEDED
        elif refund.status in FAILED_STATUSES:
            status = RefundStatus.FAILED
        else:
            status = RefundStatus.PENDING
        return RefundResult(
            provider_reference=refund.id,
            status=status,
            amount=self._minor(refund.amount, refund.currency_iso_code)
            or request.amount,
            currency=refund.currency_iso_code,
        )

    def retrieve_by_reference(self, provider_reference: str) -> PaymentResult:
        gateway = self.gateway
        transaction = self.run(
            "braintree_find_transaction",
            lambda ctx: succeeded(gateway.transaction.find(provider_reference)),
        )
        return self._payment_result(transaction)

    def retrieve_by_key(
        self, *, idempotency_key: str, lookup: PaymentLookup | None
    ) -> PaymentResult | None:
        # Braintree cannot search by api_request_key, but by our order id.
        if lookup is None or not lookup.order_id:
            return super().retrieve_by_key(idempotency_key=idempotency_key, lookup=None)
        return self._find_sale(lookup)

    def _find_sale(self, lookup: PaymentLookup) -> PaymentResult | None:
        amount = self.to_provider_decimal(lookup.amount, lookup.currency)
        order_id = lookup.order_id[:255]
        search = braintree.TransactionSearch
        query = [
            search.order_id == order_id,
            search.amount.between(amount, amount),
            search.type == braintree.Transaction.Type.Sale,
        ]
        if lookup.since is not None:
            query.append(search.created_at >= lookup.since)
        gateway = self.gateway
        found = self.run(
            "braintree_search_transactions",
            lambda ctx: succeeded(list(gateway.transaction.search(query).items)),
        )
        # The search's text match is not promised case-sensitive: only a sale
        # of exactly our order id is this payment's (another case is another order).
        sales = [
            t
            for t in found
            if str(t.currency_iso_code or "").upper() == lookup.currency.upper()
            and str(getattr(t, "order_id", "") or "") == order_id
        ]
        live = [t for t in sales if t.status not in FAILED_STATUSES]
        if len(live) > 1:
            raise Unknown(
                "several Braintree sales match the order id and amount",
                code="lookup_ambiguous",
            )
        if live:
            return self._payment_result(live[0])
        if sales:
            earliest = datetime.min.replace(tzinfo=UTC)
            latest = max(sales, key=lambda t: _aware(t.created_at) or earliest)
            return self._payment_result(latest)
        return None

    def save_method(self, request: SaveMethodRequest) -> SavedMethod:
        verify = {"verify_card": True}
        if request.provider_customer_id:
            params = {
                "customer_id": request.provider_customer_id,
                "payment_method_nonce": request.source_token,
                "options": verify,
            }
            gateway = self.gateway
            result = self.run(
                "braintree_create_payment_method",
                lambda ctx: succeeded(gateway.payment_method.create(params)),
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
            gateway = self.gateway
            result = self.run(
                "braintree_create_customer",
                lambda ctx: succeeded(gateway.customer.create(params)),
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
            # Braintree's fingerprint: the same for every token of one number.
            card_fingerprint=str(getattr(method, "unique_number_identifier", "") or ""),
        )

    # --- Health ----------------------------------------------------------------

    def health_check(self) -> HealthResult:
        # The cheapest authenticated call: an id that cannot exist answers 404
        # with valid keys and 401 without.
        try:
            gateway = self.gateway
            self.run(
                "braintree_health_check",
                lambda ctx: succeeded(gateway.transaction.find("health_check_probe")),
            )
        except Rejected as error:
            if error.code != "not_found":
                raise
        return HealthResult(ok=True, detail="authenticated")

    # --- Webhooks ----------------------------------------------------------------

    def check_webhook_signature(self, request: SignedRequest) -> Any:
        """``bt_signature`` (HMAC-SHA1 of ``bt_payload`` keyed with the
        private key) checked, then the body's encoding, then the payload
        parsed by the SDK (which checks the signature again)."""
        signature, payload = webhook_form_fields(request.body)
        # Built outside the try: an account this deploy cannot call is our
        # configuration (a retry once fixed can pass), not an unreadable body.
        notifications = self._gateway(None).webhook_notification
        # The SDK's check with its public helpers, before anything reads the
        # payload: a forged form is refused as forged whatever its encoding.
        if not signed_with(
            self.credential("public_key"), request.secret, signature, payload
        ):
            raise forged_signature()
        self.check_webhook_encoding(request.body)
        try:
            return notifications.parse(signature, payload)
        except InvalidSignatureError:
            raise forged_signature() from None
        except Exception:
            # Signed with this account's key (checked above): an error of the
            # SDK's reading is a signed body we cannot read (stored dead).
            raise UnusableWebhook(
                "The webhook body is not a Braintree notification.",
                code=WebhookVerificationError.MALFORMED,
            ) from None

    def webhook_stored_verified(self, request: SignedRequest) -> Any:
        return stored_notification(lambda: self._gateway(None), request.body)

    def webhook_message(self, request: SignedRequest, verified: Any) -> WebhookMessage:
        event = _notification_payload(verified)
        subject = event.get("transaction") or event.get("dispute") or {}
        kind = str(verified.kind)
        return WebhookMessage.build(
            event_type=kind,
            dedupe_key=f"{kind}:{subject.get('id', '')}:{event['timestamp']}",
            payload=event,
            occurred_at=_aware(verified.timestamp),
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
                amount=self._minor(dispute.get("amount"), currency),
                currency=currency,
                dispute_reference=dispute.get("id", ""),
                dispute_status=dispute.get("status", ""),
                occurred_at=message.occurred_at,
            )
        transaction = payload.get("transaction") or {}
        currency = transaction.get("currency", "")
        final = kind is PaymentEventKind.FAILED_FINAL
        return PaymentEvent(
            kind=kind,
            provider_reference=transaction.get("id", ""),
            amount=self._minor(transaction.get("amount"), currency),
            currency=currency,
            occurred_at=message.occurred_at,
            decline=transaction_decline(transaction) if final else None,
        )

    # --- SDK plumbing ----------------------------------------------------------------

    @cached_property
    def gateway(self) -> braintree.BraintreeGateway:
        """The SDK gateway sending through the client's session."""
        return self._gateway(self.session)

    def sdk_error(self, exc: Exception) -> ProviderError | None:
        error = map_exception(exc)
        if error is not None and error.code == "too_many_requests":
            # The SDK raises without the response; its strategy kept the header.
            strategy = self.gateway.config.http_strategy()
            if isinstance(strategy, SessionHttp):
                error.retry_after = strategy.retry_after
        return error

    def _gateway(self, session: Any) -> braintree.BraintreeGateway:
        for name in ("merchant_id", "public_key", "private_key"):
            self.credential(name)
        credentials = self.credentials
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

    def _payment_result(self, transaction: Any) -> PaymentResult:
        status = transaction_status(transaction.status)
        currency = transaction.currency_iso_code
        amount = self._minor(transaction.amount, currency) or 0
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
            order_id=str(getattr(transaction, "order_id", "") or ""),
            decline=transaction_decline(transaction)
            if status is ProviderStatus.FAILED
            else None,
        )

    def _minor(self, value: Any, currency: str) -> int | None:
        if value in (None, "") or not currency:
            return None
        try:
            # "1050.00" JPY is 1050: only trailing zeros go, real extra digits
            # stay and are refused by the money helper.
            text = format(Decimal(str(value)).normalize(), "f")
        except ArithmeticError:
            raise Unknown(
                "Braintree sent an amount that cannot be read",
                code="malformed_response",
            ) from None
        return self.from_provider_decimal(text, currency)


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
            # Codes only (no free text): the decline, as the create's.
            **{
                name: str(getattr(transaction, name, "") or "")
                for name in DECLINE_FIELDS
            },
        }
    return payload


# --- Small conversions ------------------------------------------------------------


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


def succeeded(result: Any) -> Any:
    """The SDK's result, or its refusal raised inside the operation (so the
    call log records it): ``is_success`` False is a decline or validation
    error, never a transport failure."""
    if getattr(result, "is_success", True) is False:
        raise refusal(result)
    return result
