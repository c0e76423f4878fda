"""Every change to a payment. Keyword-only, one job each.

Never a double charge:

- a gateway is called only after the ``PaymentAttempt`` holding the
  idempotency key it will be sent is committed; the key is fixed per
  (payment, account, operation), so any retry reuses it;
- failover moves on only after ``not_processed``; a decline is final
  (``failed``); ``unknown`` stops everything, sets the payment ``unknown`` and
  schedules reconciliation, which asks the gateway by reference or key;
- no gateway call runs inside a database transaction: a rollback must not
  forget what a gateway did.

Status changes go through ``_advance`` under a row lock, only along
``TRANSITIONS``, with their outbox event in the same transaction.
"""

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from integrations import money, registry
from integrations.errors import (
    NotProcessed,
    Outcome,
    ProviderError,
    Rejected,
    Unknown,
)
from integrations.events import event_emit
from integrations.failover import (
    FailoverRejected,
    FailoverUnknown,
    NoProviderAvailable,
    run_with_failover,
)
from integrations.models import ProviderAccount
from payments import fraud
from payments.models import (
    AttemptOutcome,
    DisputeStatus,
    Payment,
    PaymentAttempt,
    PaymentStatus,
    RecurringCharge,
    RecurringInterval,
    RecurringStatus,
    Refund,
    RefundStatus,
    ReviewState,
    SavedPaymentMethod,
)
from payments.providers.base import (
    CaptureRequest,
    PaymentLookup,
    PaymentRequest,
    PaymentResult,
    PaymentsAdapter,
    ProviderStatus,
    RefundRequest,
    RefundResult,
    SavedMethod,
    SaveMethodRequest,
)
from payments.providers.base import RefundStatus as ProviderRefundStatus

logger = logging.getLogger(__name__)

KIND = "payments"
RECONCILE_TASK = "payments.tasks.reconcile_payment"
T = TypeVar("T")


# --- Errors the API turns into answers ------------------------------------------


class PaymentError(Exception):
    """A request the payment's state or the input does not allow."""

    code = "payment_error"

    def __init__(self, message: str, *, code: str | None = None, param: str = ""):
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.param = param


class PanRefused(PaymentError, ValueError):
    """A raw card number was sent. The message never contains it."""

    code = "pan_not_allowed"


class InvalidState(PaymentError):
    code = "invalid_state"


class AmountExceedsRefundable(PaymentError):
    code = "amount_exceeds_refundable"


class AmountExceedsCapturable(PaymentError):
    code = "amount_exceeds_capturable"


class GatewayRejected(PaymentError):
    """The gateway refused a follow-up operation (capture, void, refund)."""


class RefundAnswerPending(PaymentError):
    """A gateway refund event arrived while one of our refunds still waits for
    the gateway's answer: it may be that very refund, so it is applied later
    (the webhook is retried with back-off) instead of being counted twice."""

    code = "refund_answer_pending"


class GatewayUnavailable(PaymentError):
    """No gateway could be reached; nothing was done, retry later."""

    code = "no_provider_available"


# --- PAN guard ---------------------------------------------------------------------

# A run of 12-19 digits, optionally split by single spaces or dashes.
_DIGIT_RUN = re.compile(r"\d(?:[ -]?\d)+")


def _luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def looks_like_pan(value: str) -> bool:
    """True when ``value`` holds a Luhn-valid run of 12 to 19 digits."""
    for match in _DIGIT_RUN.finditer(value):
        digits = re.sub(r"[ -]", "", match.group())
        if 12 <= len(digits) <= 19 and _luhn_valid(digits):
            return True
    return False


def _strings(value: Any, path: str) -> Iterable[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield path, str(key)
            yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")
    elif value is not None:
        yield path, str(value)


def pan_refuse(*, source_token: str = "", metadata: dict | None = None) -> None:
    """Raise PanRefused if a card number is in the token or the metadata."""
    fields = [("source_token", source_token), *_strings(metadata or {}, "metadata")]
    for param, text in fields:
        if looks_like_pan(text):
            logger.warning("card number refused", extra={"param": param})
            raise PanRefused(
                "Raw card numbers are not accepted; send the token from the "
                "payment provider's client-side SDK.",
                param=param,
            )


# --- State changes ---------------------------------------------------------------


@dataclass(frozen=True)
class _Change:
    status: str | None = None
    authorized: int | None = None
    captured: int | None = None
    fields: dict[str, Any] | None = None


_STATUS_EVENTS = {
    PaymentStatus.AUTHORIZED: "payment.authorized",
    PaymentStatus.CAPTURED: "payment.captured",
    PaymentStatus.FAILED: "payment.failed",
    PaymentStatus.BLOCKED: "payment.failed",
    PaymentStatus.VOIDED: "payment.voided",
}


def _event_payload(payment: Payment, **extra: Any) -> dict[str, Any]:
    return {
        "payment_id": payment.public_id,
        "order_id": payment.order_id,
        "status": payment.status,
        "amount": payment.amount,
        "currency": payment.currency,
        "amount_authorized": payment.amount_authorized,
        "amount_captured": payment.amount_captured,
        "amount_refunded": payment.amount_refunded,
        **extra,
    }


def _emit(payment: Payment, name: str, **extra: Any) -> None:
    event_emit(
        name=name,
        payload=_event_payload(payment, **extra),
        subject=f"payment:{payment.public_id}",
    )


def _locked(payment_id: int) -> Payment:
    return Payment.objects.select_for_update().get(pk=payment_id)


def _advance(payment: Payment, change: _Change) -> Payment:
    """Apply ``change`` to the locked row: amounts only grow, the status only
    moves along TRANSITIONS; emits the new status's event. Returns the row."""
    with transaction.atomic():
        row = _locked(payment.pk)
        before = row.status
        if change.authorized is not None:
            row.amount_authorized = min(
                row.amount, max(row.amount_authorized, change.authorized)
            )
        if change.captured is not None:
            row.amount_captured = max(row.amount_captured, change.captured)
            row.amount_authorized = max(row.amount_authorized, row.amount_captured)
        for name, value in (change.fields or {}).items():
            setattr(row, name, value)
        moved = change.status is not None and row.can_transition(change.status)
        if moved:
            row.status = change.status
        row.save()
        if moved and change.status in _STATUS_EVENTS:
            _emit(row, _STATUS_EVENTS[change.status])
    if change.status is not None and not moved and change.status != before:
        logger.info(
            "payment transition ignored",
            extra={
                "payment_id": row.public_id,
                "status": before,
                "requested": change.status,
            },
        )
    return row


_RESULT_STATUS = {
    ProviderStatus.PENDING: PaymentStatus.PENDING,
    ProviderStatus.REQUIRES_ACTION: PaymentStatus.REQUIRES_ACTION,
    ProviderStatus.AUTHORIZED: PaymentStatus.AUTHORIZED,
    ProviderStatus.CAPTURED: PaymentStatus.CAPTURED,
    ProviderStatus.VOIDED: PaymentStatus.VOIDED,
    ProviderStatus.FAILED: PaymentStatus.FAILED,
}


def _change_from_result(
    result: PaymentResult, account: ProviderAccount | None = None
) -> _Change:
    fields: dict[str, Any] = {"provider_reference": result.provider_reference}
    if account is not None:
        fields["account"] = account
    for name in ("card_brand", "card_last4", "wallet"):
        if getattr(result, name):
            fields[name] = getattr(result, name)
    return _Change(
        status=_RESULT_STATUS[result.status],
        authorized=result.amount_authorized,
        captured=result.amount_captured,
        fields=fields,
    )


# --- Attempts --------------------------------------------------------------------


def _provider_key(payment: Payment, account: ProviderAccount, operation: str) -> str:
    """The idempotency key for one operation of ``payment`` at ``account``:
    fixed, so a retry or a reconciliation sends the same one."""
    suffix = "" if operation == "authorize" else f"-{operation[:3]}"
    return f"{payment.public_id}-a{account.pk}{suffix}"


def _attempted(
    payment: Payment,
    adapter: PaymentsAdapter,
    operation: str,
    call: Callable[[str], T],
    *,
    reference: str = "",
) -> T:
    """Store the attempt with its key (committed), call, record the outcome.

    ``reference``: the provider reference known before the call (PayPal's
    approved order id), stored with the attempt before the call and put on
    the payment if the outcome is unknown, so reconciliation can look it up.
    """
    account = adapter.account
    key = _provider_key(payment, account, operation)
    attempt = PaymentAttempt.objects.create(
        payment=payment,
        account=account,
        operation=operation,
        idempotency_key=key,
        provider_reference=reference[:255],
    )
    started = time.monotonic()
    try:
        result = call(key)
    except ProviderError as error:
        _attempt_finish(attempt, started, outcome=str(error.outcome), error=error)
        if error.outcome == Outcome.UNKNOWN:
            # The account may hold the charge: reconciliation must ask it.
            Payment.objects.filter(pk=payment.pk, account__isnull=True).update(
                account=account
            )
            if reference:
                Payment.objects.filter(
                    pk=payment.pk, account=account, provider_reference=""
                ).update(provider_reference=reference[:255])
        raise
    # A capture the provider keeps as its own object (Braintree's partial
    # settlement) is recorded by its own reference.
    reference = (
        getattr(result, "capture_reference", "")
        or getattr(result, "provider_reference", "")
        or reference
    )
    _attempt_finish(
        attempt, started, outcome=AttemptOutcome.SUCCEEDED, reference=reference
    )
    return result


def _attempt_finish(
    attempt: PaymentAttempt,
    started: float,
    *,
    outcome: str,
    error: ProviderError | None = None,
    reference: str = "",
) -> None:
    fields: dict[str, Any] = {}
    if reference:
        # Never blank out a reference stored before the call.
        fields["provider_reference"] = reference[:255]
    PaymentAttempt.objects.filter(pk=attempt.pk).update(
        outcome=outcome,
        error_code=error.code[:64] if error else "",
        error_message=error.message[:255] if error else "",
        duration_ms=int((time.monotonic() - started) * 1000),
        finished_at=timezone.now(),
        **fields,
    )


def _adapter(account: ProviderAccount) -> PaymentsAdapter:
    adapter = registry.get_adapter(account)
    assert isinstance(adapter, PaymentsAdapter)
    return adapter


# --- Create ------------------------------------------------------------------------


def payment_create(
    *,
    order_id: str,
    amount: int,
    currency: str,
    source_token: str,
    capture: bool,
    idempotency_key: str,
    customer_reference: str = "",
    customer_email: str = "",
    ip_address: str | None = None,
    billing_country: str = "",
    card_fingerprint: str = "",
    ip_country: str = "",
    metadata: dict[str, Any] | None = None,
) -> Payment:
    """Screen, then authorize (and capture) over the payment accounts.

    Always returns the payment; its status says what happened (``failed``
    with ``failure_code``, ``blocked``, ``unknown``...). The same
    ``idempotency_key`` returns the same payment without a second charge.
    Raises PanRefused, ValueError (bad amount or currency) and
    GatewayUnavailable (no account could be reached; nothing was charged).
    """
    pan_refuse(source_token=source_token, metadata=metadata)
    currency = money.validate_currency(currency)
    if not isinstance(amount, int) or amount <= 0:
        raise ValueError("amount must be a positive integer of minor units")
    existing = Payment.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    screening = fraud.payment_screen(
        amount=amount,
        currency=currency,
        customer_reference=customer_reference,
        customer_email=customer_email,
        ip_address=ip_address,
        billing_country=billing_country,
        card_fingerprint=card_fingerprint,
        ip_country=ip_country,
    )
    review = screening.level == fraud.RiskLevel.MEDIUM
    try:
        with transaction.atomic():
            payment = Payment.objects.create(
                order_id=order_id,
                amount=amount,
                currency=currency,
                capture_requested=capture,
                customer_reference=customer_reference,
                customer_email=customer_email,
                ip_address=ip_address or None,
                metadata=metadata or {},
                idempotency_key=idempotency_key,
                risk_score=screening.score,
                risk_level=str(screening.level),
                risk_reasons=list(screening.reasons),
                review_state=ReviewState.PENDING if review else ReviewState.NONE,
            )
    except IntegrityError:
        # A concurrent call with the same key created it first.
        return Payment.objects.get(idempotency_key=idempotency_key)
    logger.info(
        "payment created",
        extra={
            "payment_id": payment.public_id,
            "risk_level": payment.risk_level,
            "currency": currency,
        },
    )
    if screening.level == fraud.RiskLevel.HIGH:
        return _advance(
            payment,
            _Change(
                status=PaymentStatus.BLOCKED,
                fields={
                    "failure_code": "payment_blocked",
                    "failure_message": "Blocked by fraud screening.",
                },
            ),
        )
    request = _payment_request(payment, source_token, capture=capture and not review)
    return _authorize_with_failover(payment, request)


def _payment_request(
    payment: Payment,
    source_token: str,
    *,
    capture: bool,
    provider_customer_id: str = "",
    off_session: bool = False,
) -> PaymentRequest:
    return PaymentRequest(
        amount=payment.amount,
        currency=payment.currency,
        source_token=source_token,
        capture=capture,
        idempotency_key="",  # set per account by _attempted
        order_id=payment.order_id,
        customer_reference=payment.customer_reference,
        customer_email=payment.customer_email,
        metadata={str(k): str(v) for k, v in payment.metadata.items()},
        provider_customer_id=provider_customer_id,
        off_session=off_session,
    )


def _authorize_at(
    payment: Payment, request: PaymentRequest, adapter: PaymentsAdapter
) -> PaymentResult:
    if request.capture and adapter.capture_after_authorize:
        # Authorize first, capture once the reference is stored (Square):
        # see PaymentsAdapter.capture_after_authorize.
        request = replace(request, capture=False)

    def call(key: str) -> PaymentResult:
        keyed = _with_key(request, key)
        if request.off_session:
            return adapter.charge_saved(keyed)
        return adapter.authorize(keyed)

    reference = adapter.reference_before_call(request)
    return _attempted(payment, adapter, "authorize", call, reference=reference)


def _with_key(request: PaymentRequest, key: str) -> PaymentRequest:
    return replace(request, idempotency_key=key)


def _authorize_with_failover(payment: Payment, request: PaymentRequest) -> Payment:
    try:
        served = run_with_failover(
            KIND,
            lambda adapter: _authorize_at(payment, request, adapter),  # type: ignore[arg-type]
            operation_name="authorize",
        )
    except FailoverRejected as exc:
        return _failed(payment, exc)
    except FailoverUnknown:
        return _unknown(payment)
    except NoProviderAvailable as exc:
        _unavailable(payment, exc)
        raise GatewayUnavailable(
            "No payment gateway could be reached; nothing was charged."
        ) from exc
    payment = _authorized(payment, served.result, served.account)
    return _capture_owed(payment) if request.capture else payment


def _authorized(
    payment: Payment, result: PaymentResult, account: ProviderAccount
) -> Payment:
    payment = _advance(payment, _change_from_result(result, account))
    # Not stored: the storefront gets it once, to finish 3-D Secure.
    payment.client_secret = result.client_secret  # type: ignore[attr-defined]
    payment.next_action = result.next_action  # type: ignore[attr-defined]
    return payment


def _owes_capture(payment: Payment) -> bool:
    """An authorization the storefront asked to capture, at a provider the
    service captures in a second call (``capture_after_authorize``)."""
    return (
        payment.status == PaymentStatus.AUTHORIZED
        and payment.capture_requested
        and payment.review_state == ReviewState.NONE
        and payment.amount_captured == 0
        and payment.account is not None
        and _adapter(payment.account).capture_after_authorize
    )


def _capture_owed(payment: Payment) -> Payment:
    """Capture an authorization made with ``capture=False`` only because the
    provider captures in a second call. The authorization (and its
    reference) is stored first, so a lost capture is reconciled by reference;
    an unreachable gateway leaves it authorized and reconciliation retries."""
    if not _owes_capture(payment):
        return payment
    try:
        captured = payment_capture(payment=payment, actor="switchyard")
    except GatewayUnavailable:
        logger.warning("capture after authorization deferred", extra=_ids(payment))
        reconciliation_schedule(payment=payment)
        return _fresh(payment)
    except PaymentError as exc:
        # Refused: stays authorized, for staff to capture or void.
        logger.error(
            "capture after authorization refused",
            extra={**_ids(payment), "error_code": exc.code},
        )
        return _fresh(payment)
    for name in ("client_secret", "next_action"):
        if hasattr(payment, name):
            setattr(captured, name, getattr(payment, name))
    return captured


def _fresh(payment: Payment) -> Payment:
    secret, action = (
        getattr(payment, "client_secret", ""),
        getattr(payment, "next_action", None),
    )
    payment.refresh_from_db()
    payment.client_secret = secret  # type: ignore[attr-defined]
    payment.next_action = action  # type: ignore[attr-defined]
    return payment


def _failed(payment: Payment, error: ProviderError) -> Payment:
    return _advance(
        payment,
        _Change(
            status=PaymentStatus.FAILED,
            fields={
                "failure_code": error.code[:64],
                "failure_message": error.message[:255],
            },
        ),
    )


def _unknown(payment: Payment) -> Payment:
    payment = _advance(
        payment,
        _Change(
            status=PaymentStatus.UNKNOWN,
            fields={
                "failure_code": "outcome_unknown",
                "failure_message": "The gateway did not answer; reconciling.",
            },
        ),
    )
    reconciliation_schedule(payment=payment)
    return payment


def _unavailable(payment: Payment, error: ProviderError) -> None:
    # Nothing was charged anywhere: free the key so the caller may retry it.
    _advance(
        payment,
        _Change(
            status=PaymentStatus.FAILED,
            fields={
                "failure_code": "no_provider_available",
                "failure_message": "No payment gateway could be reached.",
                "idempotency_key": None,
            },
        ),
    )


def reconciliation_schedule(*, payment: Payment, delay: int | None = None) -> None:
    """Ask the gateway about ``payment`` after ``delay`` seconds (a django-q2
    schedule, stored in the database). The periodic sweep is the backstop."""
    from django_q.models import Schedule
    from django_q.tasks import schedule

    seconds = settings.PAYMENTS_RECONCILE_DELAY_SECONDS if delay is None else delay

    def create() -> None:
        schedule(
            RECONCILE_TASK,
            payment.pk,
            name=f"reconcile-{payment.public_id}-{uuid.uuid4().hex[:8]}",
            schedule_type=Schedule.ONCE,
            next_run=timezone.now() + timedelta(seconds=seconds),
        )

    transaction.on_commit(create)
    logger.warning(
        "payment outcome unknown; reconciliation scheduled",
        extra={"payment_id": payment.public_id, "delay_seconds": seconds},
    )


# --- Capture, void, review ---------------------------------------------------------


def _follow_up(
    payment: Payment, operation: str, call: Callable[[PaymentsAdapter, str], T]
) -> T:
    """One follow-up operation at the account that holds the payment."""
    if payment.account is None or not payment.provider_reference:
        raise InvalidState("The payment has no gateway charge to act on.")
    adapter = _adapter(payment.account)
    try:
        return _attempted(payment, adapter, operation, lambda key: call(adapter, key))
    except Rejected as exc:
        raise GatewayRejected(exc.message, code=exc.code) from exc
    except NotProcessed as exc:
        raise GatewayUnavailable(
            "The payment gateway could not be reached; nothing was done."
        ) from exc


def payment_capture(
    *, payment: Payment, amount: int | None = None, actor: str = ""
) -> Payment:
    """Capture an authorized payment, all of it or ``amount`` (partial)."""
    payment.refresh_from_db()
    if payment.status != PaymentStatus.AUTHORIZED:
        raise InvalidState(f"A {payment.status} payment cannot be captured.")
    remaining = payment.amount_authorized - payment.amount_captured
    amount = remaining if amount is None else amount
    if amount <= 0 or amount > remaining:
        raise AmountExceedsCapturable(
            f"At most {remaining} can be captured.", param="amount"
        )

    def call(adapter: PaymentsAdapter, key: str) -> PaymentResult:
        return adapter.capture(
            CaptureRequest(
                provider_reference=payment.provider_reference,
                amount=amount,
                currency=payment.currency,
                idempotency_key=key,
            )
        )

    try:
        result = _follow_up(payment, "capture", call)
    except ProviderError:
        logger.warning("payment capture outcome unknown", extra=_ids(payment))
        return _unknown(payment)
    logger.info("payment captured", extra={**_ids(payment), "actor": actor})
    return _advance(payment, _change_from_result(result))


def payment_void(*, payment: Payment, actor: str = "") -> Payment:
    """Release an authorization (or abandon a 3-D Secure payment)."""
    payment.refresh_from_db()
    if payment.status not in (PaymentStatus.AUTHORIZED, PaymentStatus.REQUIRES_ACTION):
        raise InvalidState(f"A {payment.status} payment cannot be voided.")

    def call(adapter: PaymentsAdapter, key: str) -> PaymentResult:
        return adapter.void(
            provider_reference=payment.provider_reference, idempotency_key=key
        )

    try:
        result = _follow_up(payment, "void", call)
    except ProviderError:
        logger.warning("payment void outcome unknown", extra=_ids(payment))
        return _unknown(payment)
    logger.info("payment voided", extra={**_ids(payment), "actor": actor})
    return _advance(payment, _change_from_result(result))


def _ids(payment: Payment) -> dict[str, Any]:
    return {"payment_id": payment.public_id}


def _review_decided(payment: Payment, state: str) -> None:
    Payment.objects.filter(pk=payment.pk, review_state=ReviewState.PENDING).update(
        review_state=state, updated_at=timezone.now()
    )


def payment_review_approve(*, payment: Payment, actor: str) -> Payment:
    """Staff approve a payment held for review: capture it."""
    if payment.review_state != ReviewState.PENDING:
        raise InvalidState("The payment is not waiting for review.")
    payment = payment_capture(payment=payment, actor=actor)
    if payment.status == PaymentStatus.CAPTURED:
        _review_decided(payment, ReviewState.APPROVED)
    payment.refresh_from_db()
    return payment


def payment_review_reject(*, payment: Payment, actor: str) -> Payment:
    """Staff reject a payment held for review: void it."""
    if payment.review_state != ReviewState.PENDING:
        raise InvalidState("The payment is not waiting for review.")
    payment = payment_void(payment=payment, actor=actor)
    if payment.status == PaymentStatus.VOIDED:
        _review_decided(payment, ReviewState.REJECTED)
    payment.refresh_from_db()
    return payment


# --- Refunds ---------------------------------------------------------------------

_RESERVING = (RefundStatus.PENDING, RefundStatus.UNKNOWN)


def _refundable(payment: Payment) -> int:
    """Captured minus refunded minus refunds still in flight."""
    reserved = (
        payment.refunds.filter(status__in=_RESERVING).aggregate(total=Sum("amount"))[
            "total"
        ]
        or 0
    )
    return payment.amount_captured - payment.amount_refunded - reserved


def payment_refundable(*, payment: Payment) -> int:
    return _refundable(payment)


def payment_refund(
    *,
    payment: Payment,
    amount: int,
    reason: str = "",
    requested_by: str = "",
    idempotency_key: str | None = None,
) -> Refund:
    """Refund ``amount`` of a captured payment; partial and repeated refunds
    allowed, never above what is captured and not yet refunded (or being
    refunded), whatever runs concurrently.

    Returns the refund: ``succeeded``, ``failed`` (the gateway refused;
    ``failure_code``) or ``unknown`` (reconciliation re-sends it with the same
    key). Raises AmountExceedsRefundable, InvalidState, GatewayUnavailable.
    """
    key = idempotency_key or f"refund:{uuid.uuid4().hex}"
    existing = Refund.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing
    if not isinstance(amount, int) or amount <= 0:
        raise AmountExceedsRefundable("The amount must be positive.", param="amount")
    refund = _refund_reserve(payment, amount, reason, requested_by, key)
    return _refund_send(refund)


def _refund_reserve(
    payment: Payment, amount: int, reason: str, requested_by: str, key: str
) -> Refund:
    with transaction.atomic():
        row = _locked(payment.pk)
        refundable_statuses = (
            PaymentStatus.CAPTURED,
            PaymentStatus.PARTIALLY_REFUNDED,
        )
        if row.status not in refundable_statuses:
            raise InvalidState(f"A {row.status} payment cannot be refunded.")
        available = _refundable(row)
        if amount > available:
            raise AmountExceedsRefundable(
                f"At most {available} can be refunded.", param="amount"
            )
        try:
            with transaction.atomic():
                return Refund.objects.create(
                    payment=row,
                    amount=amount,
                    currency=row.currency,
                    reason=reason[:255],
                    requested_by=requested_by[:150],
                    idempotency_key=key,
                )
        except IntegrityError:
            return Refund.objects.get(idempotency_key=key)


def _refund_send(refund: Refund) -> Refund:
    payment = refund.payment

    def call(adapter: PaymentsAdapter, _key: str) -> RefundResult:
        # The refund's own id is its key: fixed for this refund, so a
        # re-send after an unknown outcome cannot refund twice.
        return adapter.refund(
            RefundRequest(
                provider_reference=payment.provider_reference,
                amount=refund.amount,
                currency=refund.currency,
                idempotency_key=refund.public_id,
                reason=refund.reason,
            )
        )

    try:
        result = _follow_up(payment, "refund", call)
    except GatewayRejected as exc:
        return _refund_finish(
            refund, RefundStatus.FAILED, code=exc.code, message=exc.message
        )
    except GatewayUnavailable:
        _refund_finish(refund, RefundStatus.FAILED, code="no_provider_available")
        raise
    except ProviderError:
        return _refund_finish(refund, RefundStatus.UNKNOWN, code="outcome_unknown")
    if result.status == ProviderRefundStatus.FAILED:
        return _refund_finish(refund, RefundStatus.FAILED, code="refund_failed")
    return _refund_succeeded(refund, result.provider_reference)


def _refund_finish(
    refund: Refund, status: str, *, code: str = "", message: str = ""
) -> Refund:
    Refund.objects.filter(pk=refund.pk, status__in=_RESERVING).update(
        status=status,
        failure_code=code[:64],
        failure_message=message[:255],
        updated_at=timezone.now(),
    )
    refund.refresh_from_db()
    logger.info(
        "refund finished",
        extra={"refund_id": refund.public_id, "status": refund.status, "code": code},
    )
    return refund


def _refund_succeeded(refund: Refund, provider_reference: str) -> Refund:
    with transaction.atomic():
        payment = _locked(refund.payment_id)
        updated = Refund.objects.filter(pk=refund.pk, status__in=_RESERVING).update(
            status=RefundStatus.SUCCEEDED,
            provider_reference=provider_reference[:255],
            failure_code="",
            updated_at=timezone.now(),
        )
        if updated:
            _refund_book(payment, refund.amount, refund.public_id)
    refund.refresh_from_db()
    return refund


def _refund_book(payment: Payment, amount: int, refund_id: str) -> None:
    """Count a succeeded refund on the locked payment, with its event."""
    payment.amount_refunded += amount
    full = payment.amount_refunded >= payment.amount_captured
    status = PaymentStatus.REFUNDED if full else PaymentStatus.PARTIALLY_REFUNDED
    if payment.can_transition(status):
        payment.status = status
    payment.save()
    _emit(payment, "payment.refunded", refund_id=refund_id, refund_amount=amount)


# --- Reconciliation ------------------------------------------------------------------

_RECONCILABLE = (
    PaymentStatus.UNKNOWN,
    PaymentStatus.PENDING,
    PaymentStatus.REQUIRES_ACTION,
)


def payment_reconcile(*, payment: Payment) -> Payment:
    """Ask the gateway what became of ``payment`` and settle its status, and
    re-send refunds whose outcome is unknown (same key: never twice)."""
    payment.refresh_from_db()
    if payment.status in _RECONCILABLE and payment.account is not None:
        payment = _reconcile_charge(payment)
    if _owes_capture(payment):
        payment = _capture_owed(payment)
    for refund in payment.refunds.filter(status=RefundStatus.UNKNOWN):
        try:
            _refund_send(refund)
        except PaymentError:
            logger.warning("refund reconciliation failed", extra=_ids(payment))
    payment.refresh_from_db()
    return payment


def _lookup_may_lag(payment: Payment, adapter: PaymentsAdapter) -> bool:
    """A miss by key too soon after the create may be the provider's search
    index lagging, not proof that nothing was charged."""
    if payment.provider_reference or not adapter.lookup_lag_seconds:
        return False
    age = timezone.now() - payment.created_at
    return age < timedelta(seconds=adapter.lookup_lag_seconds)


def _reconcile_charge(payment: Payment) -> Payment:
    """Ask the account that may hold the charge, by its reference (stored
    before the call when the provider has one) or the create's key.

    ``failed`` only when the gateway answers that nothing was charged: its
    look-up found nothing, or a cancel by idempotency key it guarantees. A
    gateway that cannot say leaves the payment ``unknown``, marked for staff.
    """
    account = payment.account
    assert account is not None
    adapter = _adapter(account)
    key = _provider_key(payment, account, "authorize")
    reference = payment.provider_reference or _reference_sent(payment, account)
    lookup = PaymentLookup(
        order_id=payment.order_id,
        amount=payment.amount,
        currency=payment.currency,
        since=payment.created_at - timedelta(minutes=10),
    )
    try:
        try:
            result = adapter.retrieve(
                provider_reference=reference, idempotency_key=key, lookup=lookup
            )
        except Unknown as exc:
            if exc.code == "lookup_ambiguous":
                return _reconcile_manually(payment)
            if exc.code != "lookup_not_supported":
                raise
            return _reconcile_by_cancel(payment, adapter, key)
        if result is None and adapter.supports_cancel_by_idempotency_key:
            # Make sure a charge still in flight at the gateway cannot land.
            adapter.cancel_by_idempotency_key(key)
    except ProviderError as exc:
        logger.warning(
            "payment reconciliation could not reach the gateway",
            extra={**_ids(payment), "error_code": exc.code},
        )
        return payment
    if result is None and _lookup_may_lag(payment, adapter):
        logger.info("payment not found at the gateway yet", extra=_ids(payment))
        reconciliation_schedule(payment=payment)
        return payment
    if result is None:
        logger.info("payment not found at the gateway; failed", extra=_ids(payment))
        return _advance(
            payment,
            _Change(
                status=PaymentStatus.FAILED,
                fields={
                    "failure_code": "not_found_at_provider",
                    "failure_message": "The gateway has no record of the charge.",
                },
            ),
        )
    taken = Payment.objects.filter(
        account=account, provider_reference=result.provider_reference
    ).exclude(pk=payment.pk)
    if not payment.provider_reference and taken.exists():
        # Found by a search, but it is another payment's charge.
        return _reconcile_manually(payment)
    logger.info(
        "payment reconciled", extra={**_ids(payment), "provider_status": result.status}
    )
    return _advance(payment, _change_from_result(result))


def _reference_sent(payment: Payment, account: ProviderAccount) -> str:
    """The reference stored with the last create attempt at ``account``."""
    attempt = (
        payment.attempts.filter(account=account, operation="authorize")
        .exclude(provider_reference="")
        .order_by("-pk")
        .first()
    )
    return attempt.provider_reference if attempt else ""


def _reconcile_by_cancel(
    payment: Payment, adapter: PaymentsAdapter, key: str
) -> Payment:
    """The gateway cannot look the payment up: cancel by key where it can
    and guarantees that leaves nothing charged; otherwise leave it unknown."""
    if adapter.supports_cancel_by_idempotency_key and (
        adapter.cancel_by_idempotency_key(key)
    ):
        logger.info("payment cancelled by idempotency key; failed", extra=_ids(payment))
        return _advance(
            payment,
            _Change(
                status=PaymentStatus.FAILED,
                fields={
                    "failure_code": "cancelled_at_provider",
                    "failure_message": "The gateway cancelled whatever the "
                    "lost request created; nothing was charged.",
                },
            ),
        )
    return _reconcile_manually(payment)


def _reconcile_manually(payment: Payment) -> Payment:
    """Stays ``unknown`` (never guessed failed), marked for staff."""
    logger.error("payment cannot be reconciled automatically", extra=_ids(payment))
    return _advance(
        payment,
        _Change(
            fields={
                "failure_code": "reconcile_manually",
                "failure_message": "The gateway cannot tell which charge is "
                "this payment's; check it in the gateway's dashboard.",
            }
        ),
    )


def payments_reconcile_pending(*, now: datetime | None = None) -> list[Payment]:
    """Reconcile every payment whose outcome is open: ``unknown`` ones, and
    ``pending`` or ``requires_action`` ones — or authorizations still owing
    their capture — older than ``PAYMENTS_RECONCILE_AFTER_MINUTES``. Returns
    those whose status changed."""
    now = now or timezone.now()
    stale = now - timedelta(minutes=settings.PAYMENTS_RECONCILE_AFTER_MINUTES)
    candidates = (
        Payment.objects.filter(status=PaymentStatus.UNKNOWN)
        | Payment.objects.filter(
            status__in=[PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION],
            updated_at__lte=stale,
        )
        # A capture owed after a separate authorization (Square) whose process
        # died between the two calls: nothing else would ever send it.
        | Payment.objects.filter(
            status=PaymentStatus.AUTHORIZED,
            capture_requested=True,
            review_state=ReviewState.NONE,
            amount_captured=0,
            updated_at__lte=stale,
        )
    )
    settled: list[Payment] = []
    for payment in candidates.exclude(account__isnull=True).order_by("pk")[
        : settings.PAYMENTS_RECONCILE_BATCH
    ]:
        before = payment.status
        after = payment_reconcile(payment=payment)
        if after.status != before:
            settled.append(after)
    return settled


# --- Saved methods and merchant-initiated charges ---------------------------


def payment_method_save(
    *,
    customer_reference: str,
    source_token: str,
    idempotency_key: str,
    customer_email: str = "",
    make_default: bool = False,
) -> SavedPaymentMethod:
    """Vault a client-side token at the first reachable payment account."""
    pan_refuse(source_token=source_token)
    existing = SavedPaymentMethod.objects.filter(idempotency_key=idempotency_key)
    if existing.exists():
        return existing.get()

    def save(adapter: PaymentsAdapter) -> SavedMethod:
        known = SavedPaymentMethod.objects.filter(
            customer_reference=customer_reference, account=adapter.account
        ).first()
        return adapter.save_method(
            SaveMethodRequest(
                customer_reference=customer_reference,
                source_token=source_token,
                idempotency_key=f"{idempotency_key[:200]}-a{adapter.account.pk}",
                customer_email=customer_email,
                provider_customer_id=known.provider_customer_id if known else "",
            )
        )

    try:
        served = run_with_failover(KIND, save, operation_name="save_method")  # type: ignore[arg-type]
    except FailoverRejected as exc:
        raise GatewayRejected(exc.message, code=exc.code) from exc
    except (FailoverUnknown, NoProviderAvailable) as exc:
        raise GatewayUnavailable(
            "The payment method could not be saved; try again."
        ) from exc
    return _method_store(
        served.result, served.account, customer_reference, idempotency_key, make_default
    )


def _method_store(
    saved: SavedMethod,
    account: ProviderAccount,
    customer_reference: str,
    idempotency_key: str,
    make_default: bool,
) -> SavedPaymentMethod:
    with transaction.atomic():
        others = SavedPaymentMethod.objects.select_for_update().filter(
            customer_reference=customer_reference
        )
        first = not others.exists()
        if make_default:
            others.update(is_default=False)
        method, _created = SavedPaymentMethod.objects.get_or_create(
            account=account,
            provider_method_id=saved.provider_method_id,
            defaults={
                "customer_reference": customer_reference,
                "provider_customer_id": saved.provider_customer_id,
                "card_brand": saved.card_brand,
                "card_last4": saved.card_last4,
                "exp_month": saved.exp_month,
                "exp_year": saved.exp_year,
                "is_default": make_default or first,
                "idempotency_key": idempotency_key,
            },
        )
    logger.info(
        "payment method saved",
        extra={"method_id": method.public_id, "account": account.slug},
    )
    return method


def saved_method_charge(
    *,
    saved_method: SavedPaymentMethod,
    amount: int,
    currency: str,
    order_id: str,
    idempotency_key: str,
    capture: bool = True,
    metadata: dict[str, Any] | None = None,
) -> Payment:
    """Merchant-initiated charge of a saved method, at the account that holds
    it (a vaulted method exists at one gateway only, so no failover)."""
    currency = money.validate_currency(currency)
    pan_refuse(metadata=metadata)
    existing = Payment.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    payment = Payment.objects.create(
        order_id=order_id,
        amount=amount,
        currency=currency,
        capture_requested=capture,
        customer_reference=saved_method.customer_reference,
        metadata=metadata or {},
        idempotency_key=idempotency_key,
    )
    request = _payment_request(
        payment,
        saved_method.provider_method_id,
        capture=capture,
        provider_customer_id=saved_method.provider_customer_id,
        off_session=True,
    )
    adapter = _adapter(saved_method.account)
    try:
        result = _authorize_at(payment, request, adapter)
    except Rejected as exc:
        return _failed(payment, exc)
    except NotProcessed as exc:
        _unavailable(payment, exc)
        raise GatewayUnavailable(
            "The payment gateway could not be reached; nothing was charged."
        ) from exc
    except ProviderError:
        return _unknown(payment)
    payment = _authorized(payment, result, saved_method.account)
    return _capture_owed(payment) if capture else payment


def _next_run(when: datetime, interval: str, count: int) -> datetime:
    if interval == RecurringInterval.DAY:
        return when + timedelta(days=count)
    if interval == RecurringInterval.WEEK:
        return when + timedelta(weeks=count)
    months = count * (12 if interval == RecurringInterval.YEAR else 1)
    month_index = when.month - 1 + months
    year, month = when.year + month_index // 12, month_index % 12 + 1
    # The 31st of a short month becomes its last day.
    for day in (when.day, 30, 29, 28):
        try:
            return when.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise ValueError("unreachable")


def recurring_charges_run(*, now: datetime | None = None) -> int:
    """Charge every active recurring charge that is due. Each due slot is
    claimed by a conditional update, so two workers never charge it twice,
    and its idempotency key is fixed by the slot. Returns charges made."""
    now = now or timezone.now()
    due = RecurringCharge.objects.filter(
        status=RecurringStatus.ACTIVE, next_run_at__lte=now
    ).select_related("saved_method__account")
    charged = 0
    for recurring in due.order_by("next_run_at", "pk")[
        : settings.PAYMENTS_RECURRING_BATCH
    ]:
        if _recurring_run_one(recurring):
            charged += 1
    return charged


def _recurring_run_one(recurring: RecurringCharge) -> bool:
    slot = recurring.next_run_at
    following = _next_run(slot, recurring.interval, recurring.interval_count)
    claimed = RecurringCharge.objects.filter(
        pk=recurring.pk, next_run_at=slot, status=RecurringStatus.ACTIVE
    ).update(next_run_at=following, updated_at=timezone.now())
    if not claimed:
        return False
    try:
        payment = saved_method_charge(
            saved_method=recurring.saved_method,
            amount=recurring.amount,
            currency=recurring.currency,
            order_id=f"{recurring.public_id}-{slot:%Y%m%d%H%M}",
            idempotency_key=f"recurring:{recurring.public_id}:{slot.isoformat()}",
            metadata={"recurring_charge": recurring.public_id},
        )
    except GatewayUnavailable:
        # Nothing charged: give the slot back so the next run tries again.
        RecurringCharge.objects.filter(pk=recurring.pk, next_run_at=following).update(
            next_run_at=slot
        )
        return False
    failed = payment.status == PaymentStatus.FAILED
    RecurringCharge.objects.filter(pk=recurring.pk).update(
        last_payment=payment,
        runs=recurring.runs + 1,
        status=RecurringStatus.FAILED if failed else RecurringStatus.ACTIVE,
    )
    logger.info(
        "recurring charge run",
        extra={
            "recurring_id": recurring.public_id,
            "payment_id": payment.public_id,
            "status": payment.status,
        },
    )
    return not failed


# --- Provider events (webhooks) ------------------------------------------------------


def payment_event_apply(
    *,
    payment: Payment,
    kind: str,
    amount: int | None = None,
    refund_reference: str = "",
    dispute_status: str = "",
    amount_is_total: bool = False,
) -> Payment:
    """Apply one provider event monotonically: a late or repeated event never
    moves the payment backwards or counts money twice. ``amount_is_total``:
    a refund event's amount is the payment's refunded total (Stripe)."""
    from payments.providers.base import PaymentEventKind as K

    if kind == K.AUTHORIZED:
        return _advance(
            payment,
            _Change(
                status=PaymentStatus.AUTHORIZED, authorized=amount or payment.amount
            ),
        )
    if kind == K.SUCCEEDED:
        captured = amount or max(payment.amount_authorized, payment.amount)
        return _advance(
            payment, _Change(status=PaymentStatus.CAPTURED, captured=captured)
        )
    if kind == K.FAILED:
        return _advance(payment, _Change(status=PaymentStatus.FAILED))
    if kind == K.VOIDED:
        return _advance(payment, _Change(status=PaymentStatus.VOIDED))
    if kind == K.REFUNDED:
        return _refund_event(payment, amount, refund_reference, total=amount_is_total)
    if kind in (K.DISPUTE_OPENED, K.DISPUTE_CLOSED):
        opened = kind == K.DISPUTE_OPENED
        return _dispute_event(payment, opened=opened, provider_status=dispute_status)
    return payment


def _refund_event(
    payment: Payment, amount: int | None, reference: str, *, total: bool = False
) -> Payment:
    """A refund the gateway reports.

    Per refund (a reference, ``total`` False): ``amount`` is that refund's;
    one already recorded under the reference counts nothing.

    Cumulative (``total``, or no reference): ``amount`` is everything refunded
    so far. Only what exceeds our booked refunds *and* our refunds still in
    flight (pending or unknown, whose success will be booked when their answer
    comes) is new, so a total is never counted twice, neither with a repeat
    or late event (a smaller total adds nothing) nor with a refund we made
    ourselves. A gateway refund made while one of ours is in flight is booked
    by the next total, once ours has settled.
    """
    if payment.status not in (
        PaymentStatus.CAPTURED,
        PaymentStatus.PARTIALLY_REFUNDED,
        PaymentStatus.REFUNDED,
    ):
        # Only captured money can be refunded: the capture event is late.
        payment = payment_event_apply(payment=payment, kind="succeeded")
    with transaction.atomic():
        row = _locked(payment.pk)
        known = bool(reference) and (
            row.refunds.filter(provider_reference=reference).exists()
        )
        if reference and not total:
            if known:
                return row
            if row.refunds.filter(
                status__in=_RESERVING, provider_reference=""
            ).exists():
                raise RefundAnswerPending(
                    "a refund of ours has no gateway reference yet", param="refund"
                )
            new = min(amount if amount is not None else row.refundable, row.refundable)
        else:
            reported = amount if amount is not None else row.amount_captured
            new = min(reported, row.amount_captured) - (
                row.amount_captured - _refundable(row)
            )
        if new <= 0:
            return row
        refund = Refund.objects.create(
            payment=row,
            amount=new,
            currency=row.currency,
            status=RefundStatus.SUCCEEDED,
            provider_reference="" if known else reference[:255],
            reason="reported by the gateway",
            idempotency_key=f"event:{row.public_id}:"
            + (reference if reference and not total else uuid.uuid4().hex),
        )
        _refund_book(row, new, refund.public_id)
    return row


def _dispute_event(payment: Payment, *, opened: bool, provider_status: str) -> Payment:
    with transaction.atomic():
        row = _locked(payment.pk)
        target = DisputeStatus.OPEN if opened else DisputeStatus.CLOSED
        allowed = {DisputeStatus.NONE: {DisputeStatus.OPEN, DisputeStatus.CLOSED}}
        allowed[DisputeStatus.OPEN] = {DisputeStatus.CLOSED}
        if target not in allowed.get(row.dispute_status, set()):
            return row
        row.dispute_status = target
        row.save(update_fields=["dispute_status", "updated_at"])
        _emit(
            row,
            "payment.disputed",
            dispute="opened" if opened else "closed",
            provider_dispute_status=provider_status,
        )
    return row
