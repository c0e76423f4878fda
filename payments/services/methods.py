"""Saved methods and their charges: one-off (screened) and recurring."""

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction

from integrations.errors import NotProcessed, ProviderError, Rejected
from integrations.failover import (
    FailoverRejected,
    FailoverUnknown,
    NoProviderAvailable,
    run_with_failover,
)
from integrations.models import ProviderAccount
from payments import fraud, limits
from payments.models import (
    Payment,
    PaymentAttempt,
    PaymentStatus,
    SavedPaymentMethod,
)
from payments.providers.base import PaymentsAdapter, SavedMethod, SaveMethodRequest
from payments.services.attempts import KIND, adapter_for
from payments.services.create import (
    authorize_at,
    build_payment_request,
    capture_owed,
    checked_currency,
    payment_block,
    payment_store,
    record_authorized,
)
from payments.services.errors import (
    GatewayRejected,
    GatewayUnavailable,
    PaymentError,
)
from payments.services.followups import fraud_held
from payments.services.messages import provider_code_of, public_message
from payments.services.pan import pan_refuse
from payments.services.reconcile import (
    DUPLICATE_CODES,
    RECURRING_KEY_PREFIX,
    duplicate_look_up,
    not_sent_fail,
)
from payments.services.slots import (
    period_charged,
)
from payments.services.state import (
    mark_failed,
    mark_unavailable,
    mark_unknown,
)

# One logger for the whole package, named as before the split, so log
# records and logging configuration keep addressing it.
logger = logging.getLogger("payments.services")


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
        # Our message: the provider's text may quote what we sent.
        raise GatewayRejected(
            public_message(exc.code), code=exc.code, provider_code=provider_code_of(exc)
        ) from exc
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
    """Off-session charge of a saved method, at the account that holds it (a
    vaulted method exists at one gateway only, so no failover). Screened as
    an API payment is: a high risk is blocked, a medium one held for review
    (authorized only); a recurring run's payment is not screened. Raises
    ValueError for a bad amount or currency, as ``payment_create`` does."""
    # The API's own check: a bad amount never reaches the screened INSERT,
    # which reads any IntegrityError as a repeated key.
    currency = checked_currency(amount, currency)
    pan_refuse(metadata=metadata)
    _service_keys_refuse(metadata or {}, idempotency_key)
    existing = Payment.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    # Looked up first: an account this deploy cannot call leaves no payment.
    adapter = adapter_for(saved_method.account)
    payment, created = _screened_store(
        order_id=order_id,
        amount=amount,
        currency=currency,
        capture_requested=capture,
        customer_reference=saved_method.customer_reference,
        metadata=metadata or {},
        idempotency_key=idempotency_key,
    )
    if not created or payment.status == PaymentStatus.BLOCKED:
        return payment
    return saved_method_send(payment, saved_method, adapter)


def _screened_store(**fields: Any) -> tuple[Payment, bool]:
    """Screen the charge and store it in one transaction: the velocity lock
    is held until the payment is committed, so the customer's next payment,
    by any path, waits for it and counts it (docs/payments.md). A high risk
    is blocked in that commit: a kill after it cannot leave the verdict
    unrecorded (a pending payment the unsent sweep would end 'not sent')."""
    with transaction.atomic():
        screening = fraud.payment_screen(
            amount=fields["amount"],
            currency=fields["currency"],
            customer_reference=fields["customer_reference"],
            customer_email="",
            ip_address=None,
            billing_country="",
            card_fingerprint="",
        )
        payment, created = payment_store(screening, **fields)
        if created and screening.level == fraud.RiskLevel.HIGH:
            payment = payment_block(payment)
        return payment, created


def _service_keys_refuse(metadata: dict[str, Any], idempotency_key: str) -> None:
    """What the recurring run writes for itself (its metadata keys, its
    slots' keys) is refused: it would bring the payment under its rules."""
    reserved = limits.reserved_key(metadata)
    if reserved is not None:
        raise PaymentError(
            "This key is reserved by Switchyard.",
            code="reserved_key",
            param=f"metadata.{reserved}",
        )
    if idempotency_key.startswith(RECURRING_KEY_PREFIX):
        raise PaymentError(
            f"Keys starting {RECURRING_KEY_PREFIX!r} are reserved by Switchyard.",
            code="reserved_key",
            param="idempotency_key",
        )


def saved_method_send(
    payment: Payment,
    saved_method: SavedPaymentMethod,
    adapter: PaymentsAdapter,
    *,
    not_charged: Callable[[], object] = lambda: None,
    declined: Callable[[Payment], object] = lambda payment: None,
) -> Payment:
    """Send the stored ``payment`` off-session to ``saved_method``'s gateway.
    Any other fault before the gateway call frees its key (nothing charged):
    a payment is never left ``pending`` with no one to settle it. A refusal
    as a duplicate is no decline: ``duplicate_look_up``. ``not_charged``
    runs in the transaction that fails it with nothing charged; ``declined``
    in the one that stores the gateway's refusal."""
    # A fraud hold is authorized only; staff's approval captures it.
    capture = payment.capture_requested and not fraud_held(payment)
    try:
        request = build_payment_request(
            payment,
            saved_method.provider_method_id,
            capture=capture,
            provider_customer_id=saved_method.provider_customer_id,
            off_session=True,
        )
        result = authorize_at(payment, request, adapter)
    except Rejected as exc:
        if exc.code in DUPLICATE_CODES:
            return duplicate_look_up(payment)
        with transaction.atomic():
            failed = mark_failed(payment, exc)
            declined(failed)
        return failed
    except NotProcessed as exc:
        with transaction.atomic():
            mark_unavailable(payment, exc)
            not_charged()
        raise GatewayUnavailable(
            "The payment gateway could not be reached; nothing was charged."
        ) from exc
    except ProviderError:
        return mark_unknown(payment)
    except BaseException as exc:
        _send_stopped(payment, exc, not_charged)
        raise
    with transaction.atomic():
        payment = record_authorized(payment, result, saved_method.account)
        # With the answer: a kill after it cannot lose a period charged twice.
        period_charged(payment)
    return capture_owed(payment) if capture else payment


def _send_stopped(
    payment: Payment, error: BaseException, not_charged: Callable[[], object]
) -> None:
    """A fault of ours around the gateway call: unknown if the call may have
    gone (its attempt is stored first), else failed and its key freed."""
    if PaymentAttempt.objects.filter(payment=payment).exists():
        mark_unknown(payment)
        return
    with transaction.atomic():
        not_sent_fail(payment, type(error).__name__)
        not_charged()
