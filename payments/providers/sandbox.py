"""The sandbox payment gateway: behaves like a real one, remembers what it did
(``SandboxCharge`` rows, shared by every process) and is driven by test tokens.

Test tokens (``source_token`` of a payment or a saved method):

=========================  ==================================================
``tok_success``            authorized (or captured); Visa ending 4242
``tok_visa`` / ``tok_mastercard`` / ``tok_amex``   succeed with that brand
``tok_applepay``           succeeds as an Apple Pay wallet payment
``tok_decline``            Rejected ``card_declined`` (402)
``tok_insufficient_funds`` Rejected ``insufficient_funds``
``tok_expired_card``       Rejected ``expired_card``
``tok_incorrect_cvc``      Rejected ``incorrect_cvc``
``tok_fraudulent``         Rejected ``fraudulent``
``tok_lost_card``          Rejected ``lost_or_stolen``
``tok_stop_payment``       Rejected ``stop_payment`` (the cardholder stopped
                           payments to the shop: a hard decline)
``tok_3ds_required``       ``requires_action`` with a client secret; charged
                           off-session (saved method) it is Rejected
                           ``authentication_required``
``tok_timeout``            the charge is made and remembered, then the answer
                           is lost, on every retry too: Unknown ``read_timeout``
``tok_unavailable``        NotProcessed ``connection_refused`` (nothing made)
``tok_rate_limited``       NotProcessed ``too_many_requests``, Retry-After 1 s
``tok_server_error``       Unknown ``server_error`` (500); nothing made
=========================  ==================================================

Any other token is Rejected ``bad_request`` (400), like an unknown token at a
real gateway. A saved method's id (``pm_sbx_...``) charges with the behaviour
of the token it was saved from, and only with the customer id it was saved
under (``provider_customer_id``), as the real gateways charge a vaulted card:
without it, or with another customer's, it is Rejected ``resource_missing``
(400), nothing charged.

Idempotency: a repeated key returns the first charge, without charging again;
the same key with a different amount, currency or token is Rejected
``idempotency_conflict`` (409). Capture, void and refund are idempotent by
their keys too. Cancel by idempotency key is supported, as at Square.

Account settings (inherited): ``latency_ms``, ``error_rate``, ``outage``.
Every operation goes through the account's ProviderClient, so it is logged,
metered, retried and guarded by the breaker like a real gateway call.

Webhooks: the sandbox sends its own, shortly after what it did (a payment
authorized or captured, voided, a refund settled; see
``integrations.providers.sandbox_webhooks``), and verifies them on intake:
Standard Webhooks signed with the account's ``webhook_secret``; the body is
``{"type": "payment.succeeded", "timestamp": ..., "data": {"reference": ...,
"amount": ..., "currency": ..., "refund_reference": ...}}`` with types
``payment.authorized``, ``payment.succeeded`` / ``payment.captured``,
``payment.failed``, ``payment.voided``, ``payment.refunded``,
``payment.dispute.opened``, ``payment.dispute.closed``.
"""

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from django.db import IntegrityError, transaction

from integrations import money
from integrations.db import execute_one, savepoint_if_nested
from integrations.errors import NotProcessed, ProviderError, Rejected, Unknown
from integrations.providers.sandbox import SandboxAdapter
from integrations.row_new import row_new
from integrations.row_sql import row_insert
from integrations.webhooks.messages import WebhookMessage
from payments.models import SandboxCharge, SandboxChargeKind
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

# Whether a sandbox payment already holds an idempotency key (``_key_used``).
_KEY_USED = (
    f"SELECT 1 FROM {SandboxCharge._meta.db_table} "  # noqa: S608
    "WHERE account_id = %s AND kind = %s AND idempotency_key = %s"
)

T = TypeVar("T")


@dataclass(frozen=True)
class Card:
    brand: str = "visa"
    last4: str = "4242"
    wallet: str = ""


CARDS: dict[str, Card] = {
    "tok_success": Card(),
    "tok_visa": Card(),
    "tok_mastercard": Card("mastercard", "4444"),
    "tok_amex": Card("amex", "0005"),
    "tok_applepay": Card("visa", "1881", "apple_pay"),
    "tok_3ds_required": Card("visa", "3184"),
    "tok_timeout": Card(),
}
DECLINES: dict[str, tuple[str, str]] = {
    # token: (our decline code, the sandbox's own code)
    "tok_decline": ("card_declined", "do_not_honor"),
    "tok_insufficient_funds": ("insufficient_funds", "insufficient_funds"),
    "tok_expired_card": ("expired_card", "expired_card"),
    "tok_incorrect_cvc": ("incorrect_cvc", "incorrect_cvc"),
    "tok_fraudulent": ("fraudulent", "stolen_card"),
    "tok_lost_card": ("lost_or_stolen", "lost_card"),
    "tok_stop_payment": ("stop_payment", "stop_payment_order"),
}
EVENT_KINDS: dict[str, PaymentEventKind] = {
    "payment.authorized": PaymentEventKind.AUTHORIZED,
    "payment.succeeded": PaymentEventKind.SUCCEEDED,
    "payment.captured": PaymentEventKind.SUCCEEDED,
    "payment.failed": PaymentEventKind.FAILED,
    # Money reported moved was not collected after all (final).
    "payment.not_collected": PaymentEventKind.FAILED_FINAL,
    "payment.voided": PaymentEventKind.VOIDED,
    "payment.refunded": PaymentEventKind.REFUNDED,
    "payment.dispute.opened": PaymentEventKind.DISPUTE_OPENED,
    "payment.dispute.closed": PaymentEventKind.DISPUTE_CLOSED,
}
METHOD_PREFIX = "pm_sbx_"
# Test tokens with behaviour of their own.
TOK_3DS = "tok_3ds_required"
TOK_TIMEOUT = "tok_timeout"
FAULTS: dict[str, Callable[[], ProviderError]] = {
    "tok_unavailable": lambda: NotProcessed(
        "sandbox refused the connection", code="connection_refused"
    ),
    "tok_rate_limited": lambda: NotProcessed(
        "sandbox rate limit",
        code="too_many_requests",
        http_status=429,
        retry_after=1.0,
    ),
    "tok_server_error": lambda: Unknown(
        "sandbox internal error", code="server_error", http_status=500
    ),
}


def _reference(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def _bad_request(message: str, code: str = "bad_request") -> Rejected:
    return Rejected(message, code=code, http_status=400)


class SandboxPaymentsAdapter(SandboxAdapter, PaymentsAdapter):
    display_name = "Sandbox payments"
    supports_cancel_by_idempotency_key: ClassVar[bool] = True
    saved_method_format: ClassVar[str] = METHOD_PREFIX + r"\w*"
    saved_method_only: ClassVar[bool] = True

    # --- The operations ----------------------------------------------------

    def authorize(self, request: PaymentRequest) -> PaymentResult:
        return self.sandbox_call(
            "create_payment",
            lambda: self._create(request),
            idempotency_key=request.idempotency_key,
        )

    def charge_saved(self, request: PaymentRequest) -> PaymentResult:
        return self.sandbox_call(
            "charge_saved",
            lambda: self._create(request),
            idempotency_key=request.idempotency_key,
        )

    def capture(self, request: CaptureRequest) -> PaymentResult:
        return self.sandbox_call(
            "capture_payment",
            lambda: self._capture(request),
            idempotency_key=request.idempotency_key,
        )

    def void(self, *, provider_reference: str, idempotency_key: str) -> PaymentResult:
        return self.sandbox_call(
            "void_payment",
            lambda: self._void(provider_reference),
            idempotency_key=idempotency_key,
        )

    def refund(self, request: RefundRequest) -> RefundResult:
        return self.sandbox_call(
            "refund_payment",
            lambda: self._refund(request),
            idempotency_key=request.idempotency_key,
        )

    def retrieve_by_reference(self, provider_reference: str) -> PaymentResult:
        def look_up() -> PaymentResult:
            charge = self._find(provider_reference, "")
            if charge is None:
                raise Rejected(
                    "no such sandbox payment", code="not_found", http_status=404
                )
            return _result(charge)

        return self.sandbox_call("retrieve_payment", look_up)

    def retrieve_by_key(
        self, *, idempotency_key: str, lookup: PaymentLookup | None
    ) -> PaymentResult | None:
        if not idempotency_key:
            return super().retrieve_by_key(idempotency_key="", lookup=lookup)

        def look_up() -> PaymentResult | None:
            charge = self._find("", idempotency_key)
            return None if charge is None else _result(charge)

        return self.sandbox_call("search_payment", look_up)

    def save_method(self, request: SaveMethodRequest) -> SavedMethod:
        return self.sandbox_call(
            "save_method",
            lambda: self._save(request),
            idempotency_key=request.idempotency_key,
        )

    def cancel_by_idempotency_key(self, idempotency_key: str) -> bool:
        def cancel() -> bool:
            charge = self._find("", idempotency_key)
            if charge is not None and charge.status == ProviderStatus.AUTHORIZED:
                self._void(charge.reference)
                return True
            # Nothing under the key, or nothing that still holds money.
            return charge is None or charge.status != ProviderStatus.CAPTURED

        return self.sandbox_call("cancel_by_idempotency_key", cancel)

    def parse_payment_event(self, message: WebhookMessage) -> PaymentEvent | None:
        kind = EVENT_KINDS.get(message.event_type)
        if kind is None:
            return None
        data = message.payload.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("reference"), str):
            raise ValueError("sandbox payment event without data.reference")
        amount = data.get("amount")
        if amount is not None and (not isinstance(amount, int) or amount < 0):
            raise ValueError("sandbox payment event amount must be an integer")
        return PaymentEvent(
            kind=kind,
            provider_reference=data["reference"],
            amount=amount,
            currency=str(data.get("currency") or ""),
            refund_reference=str(data.get("refund_reference") or ""),
            dispute_reference=str(data.get("dispute_reference") or ""),
            dispute_status=str(data.get("dispute_status") or ""),
            occurred_at=message.occurred_at,
        )

    # --- Plumbing ------------------------------------------------------------

    def _find(self, reference: str, idempotency_key: str) -> SandboxCharge | None:
        if reference:
            found = {"reference": reference}
        elif idempotency_key and self._key_used(idempotency_key):
            found = {"idempotency_key": idempotency_key}
        else:
            return None
        return SandboxCharge.objects.filter(
            account=self.account, kind=SandboxChargeKind.PAYMENT, **found
        ).first()

    def _key_used(self, idempotency_key: str) -> bool:
        # Nearly every key is new: a bare SELECT answers that for a tenth of
        # the ORM's Python work; the row itself is read only for a replay.
        row = execute_one(
            _KEY_USED,
            [self.account.pk, SandboxChargeKind.PAYMENT.value, idempotency_key],
        )
        return row is not None

    def _behaviour(self, request: PaymentRequest) -> tuple[str, str]:
        """(token whose behaviour applies, customer id) for a request."""
        token = request.source_token
        if not token.startswith(METHOD_PREFIX):
            return token, request.provider_customer_id
        method = SandboxCharge.objects.filter(
            account=self.account, kind=SandboxChargeKind.METHOD, reference=token
        ).first()
        # As Stripe, Square and Braintree: a vaulted card is charged only with
        # the customer it belongs to (none, or another, is refused, unsent).
        if method is None or method.customer_id != request.provider_customer_id:
            raise _bad_request("no such payment method", code="resource_missing")
        return method.source_token, method.customer_id

    def _create(self, request: PaymentRequest) -> PaymentResult:
        currency = _valid_amount(request.amount, request.currency)
        token, customer_id = self._behaviour(request)
        try:
            _refuse_token(token, off_session=request.off_session)
        except ProviderError:
            # A key already charged answers as that charge (or a conflict),
            # never as its token would now.
            charge = self._find("", request.idempotency_key)
            if charge is None:
                raise
            _check_replay(charge, request, currency)
        else:
            # A new key is the common case: the INSERT finds an old one.
            charge = self._charge(request, token, customer_id, currency)
        if token == TOK_TIMEOUT:
            # The charge happened; its answer is lost on every try, replays
            # included, so the caller must reconcile.
            raise Unknown("sandbox read timed out (simulated)", code="read_timeout")
        return _result(charge)

    def _charge(
        self, request: PaymentRequest, token: str, customer_id: str, currency: str
    ) -> SandboxCharge:
        card = CARDS[token]
        if token == TOK_3DS:
            status = ProviderStatus.REQUIRES_ACTION
        elif request.capture:
            status = ProviderStatus.CAPTURED
        else:
            status = ProviderStatus.AUTHORIZED
        authorized = 0 if status == ProviderStatus.REQUIRES_ACTION else request.amount
        fields = {
            "kind": SandboxChargeKind.PAYMENT,
            "reference": _reference("ch_sbx_"),
            "status": status,
            "amount": request.amount,
            "currency": currency,
            "amount_authorized": authorized,
            "amount_captured": authorized if request.capture else 0,
            "source_token": request.source_token,
            "customer_id": customer_id,
            "card_brand": card.brand,
            "card_last4": card.last4,
        }
        charge, created = self._store(request.idempotency_key, fields)
        if not created:
            _check_replay(charge, request, currency)
        if created and status == ProviderStatus.CAPTURED:
            self._announce("payment.captured", charge, charge.amount_captured)
        elif created and status == ProviderStatus.AUTHORIZED:
            self._announce("payment.authorized", charge, charge.amount_authorized)
        return charge

    def _announce(
        self, event_type: str, charge: SandboxCharge, amount: int, **extra: str
    ) -> None:
        """The webhook a real gateway would send about ``charge``, in the shape
        ``parse_payment_event`` reads."""
        data = {
            "reference": charge.reference,
            "amount": amount,
            "currency": charge.currency,
            **extra,
        }
        self.deliver_webhook(event_type, data)

    def _store(
        self, idempotency_key: str, fields: dict[str, Any]
    ) -> tuple[SandboxCharge, bool]:
        """(the row for the key, whether this call created it)."""
        try:
            with savepoint_if_nested():
                created = row_insert(
                    row_new(
                        SandboxCharge,
                        account=self.account,
                        idempotency_key=idempotency_key,
                        **fields,
                    )
                )
                return created, True
        except IntegrityError:
            # A concurrent request with the same key won: answer with its charge.
            existing = SandboxCharge.objects.get(
                account=self.account,
                kind=fields["kind"],
                idempotency_key=idempotency_key,
            )
            return existing, False

    def _locked(self, reference: str) -> SandboxCharge:
        charge = (
            SandboxCharge.objects.select_for_update()
            .filter(
                account=self.account,
                kind=SandboxChargeKind.PAYMENT,
                reference=reference,
            )
            .first()
        )
        if charge is None:
            raise Rejected("no such payment", code="resource_missing", http_status=404)
        return charge

    def _capture(self, request: CaptureRequest) -> PaymentResult:
        with transaction.atomic():
            charge = self._locked(request.provider_reference)
            if charge.status == ProviderStatus.CAPTURED:
                return _result(charge)  # a repeat of the capture: no change
            if charge.status != ProviderStatus.AUTHORIZED:
                raise _bad_request(
                    f"a {charge.status} payment cannot be captured",
                    code="payment_not_capturable",
                )
            if not 0 < request.amount <= charge.amount_authorized:
                raise _bad_request(
                    "capture amount exceeds the authorization",
                    code="amount_too_large",
                )
            charge.status = ProviderStatus.CAPTURED
            charge.amount_captured = request.amount
            charge.save(update_fields=["status", "amount_captured", "updated_at"])
            self._announce("payment.captured", charge, charge.amount_captured)
            return _result(charge)

    def _void(self, reference: str) -> PaymentResult:
        with transaction.atomic():
            charge = self._locked(reference)
            if charge.status == ProviderStatus.VOIDED:
                return _result(charge)
            voidable = (ProviderStatus.AUTHORIZED, ProviderStatus.REQUIRES_ACTION)
            if charge.status not in voidable:
                raise _bad_request(
                    f"a {charge.status} payment cannot be voided",
                    code="payment_not_voidable",
                )
            charge.status = ProviderStatus.VOIDED
            charge.save(update_fields=["status", "updated_at"])
            self._announce("payment.voided", charge, charge.amount_authorized)
            return _result(charge)

    def _refund(self, request: RefundRequest) -> RefundResult:
        _valid_amount(request.amount, request.currency)
        with transaction.atomic():
            charge = self._locked(request.provider_reference)
            done = SandboxCharge.objects.filter(
                account=self.account,
                kind=SandboxChargeKind.REFUND,
                idempotency_key=request.idempotency_key,
            ).first()
            if done is not None:
                if done.amount != request.amount:
                    raise _conflict()
                return _refund_result(done)
            if charge.status != ProviderStatus.CAPTURED:
                raise _bad_request(
                    "only a captured payment can be refunded",
                    code="payment_not_refundable",
                )
            if request.amount > charge.amount_captured - charge.amount_refunded:
                raise _bad_request(
                    "refund exceeds the unrefunded amount", code="amount_too_large"
                )
            charge.amount_refunded += request.amount
            charge.save(update_fields=["amount_refunded", "updated_at"])
            refund = SandboxCharge.objects.create(
                account=self.account,
                kind=SandboxChargeKind.REFUND,
                reference=_reference("re_sbx_"),
                idempotency_key=request.idempotency_key,
                parent_reference=charge.reference,
                status=RefundStatus.SUCCEEDED,
                amount=request.amount,
                currency=charge.currency,
            )
            self._announce(
                "payment.refunded",
                charge,
                refund.amount,
                refund_reference=refund.reference,
            )
            return _refund_result(refund)

    def _save(self, request: SaveMethodRequest) -> SavedMethod:
        token = request.source_token
        _refuse_token(token, off_session=False)
        card = CARDS[token]
        customer_id = request.provider_customer_id or _reference("cus_sbx_")
        method, _ = self._store(
            request.idempotency_key,
            {
                "kind": SandboxChargeKind.METHOD,
                "reference": _reference(METHOD_PREFIX),
                "status": "active",
                "source_token": token,
                "customer_id": customer_id,
                "card_brand": card.brand,
                "card_last4": card.last4,
            },
        )
        return SavedMethod(
            provider_customer_id=method.customer_id,
            provider_method_id=method.reference,
            card_brand=method.card_brand,
            card_last4=method.card_last4,
            exp_month=12,
            exp_year=2034,
        )


def _valid_amount(amount: int, currency: str) -> str:
    try:
        code = money.validate_currency(currency)
    except ValueError:
        raise _bad_request("unsupported currency", code="invalid_currency") from None
    if not isinstance(amount, int) or amount <= 0:
        raise _bad_request("amount must be a positive integer", code="invalid_amount")
    return code


def _refuse_token(token: str, *, off_session: bool) -> None:
    """Raise what the sandbox answers for a token that does not simply succeed."""
    if token in DECLINES:
        code, own_code = DECLINES[token]
        raise Rejected(
            "the card was declined", code=code, provider_code=own_code, http_status=402
        )
    if token == TOK_3DS and off_session:
        raise Rejected(
            "the card requires authentication",
            code="authentication_required",
            provider_code="authentication_required",
            http_status=402,
        )
    if token in FAULTS:
        raise FAULTS[token]()
    if token not in CARDS:
        raise _bad_request("no such token", code="bad_request")


def _conflict() -> Rejected:
    return Rejected(
        "the idempotency key was used with different parameters",
        code="idempotency_conflict",
        http_status=409,
    )


def _check_replay(
    charge: SandboxCharge, request: PaymentRequest, currency: str
) -> None:
    """A repeated key must repeat the request it was first used with."""
    if (
        charge.amount != request.amount
        or charge.currency != currency
        or charge.source_token != request.source_token
    ):
        raise _conflict()


def _client_secret(reference: str) -> str:
    digest = hashlib.sha256(f"sandbox-secret:{reference}".encode()).hexdigest()
    return f"{reference}_secret_{digest[:16]}"


def _result(charge: SandboxCharge) -> PaymentResult:
    requires_action = charge.status == ProviderStatus.REQUIRES_ACTION
    card = CARDS.get(charge.source_token, Card(charge.card_brand, charge.card_last4))
    return PaymentResult(
        status=ProviderStatus(charge.status),
        provider_reference=charge.reference,
        currency=charge.currency,
        amount_authorized=charge.amount_authorized,
        amount_captured=charge.amount_captured,
        card_brand=charge.card_brand,
        card_last4=charge.card_last4,
        wallet=card.wallet,
        client_secret=_client_secret(charge.reference) if requires_action else "",
        next_action={"type": "redirect_to_url"} if requires_action else None,
        raw_status=charge.status,
    )


def _refund_result(refund: SandboxCharge) -> RefundResult:
    return RefundResult(
        provider_reference=refund.reference,
        status=RefundStatus(refund.status),
        amount=refund.amount,
        currency=refund.currency,
    )
