"""Saved methods and merchant-initiated charges."""

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from integrations import money
from integrations.errors import NotProcessed, ProviderError, Rejected
from integrations.failover import (
    FailoverRejected,
    FailoverUnknown,
    NoProviderAvailable,
    run_with_failover,
)
from integrations.models import ProviderAccount
from payments.models import (
    Payment,
    PaymentStatus,
    RecurringCharge,
    RecurringInterval,
    RecurringStatus,
    SavedPaymentMethod,
)
from payments.providers.base import PaymentsAdapter, SavedMethod, SaveMethodRequest
from payments.services.attempts import KIND, adapter_for
from payments.services.create import (
    authorize_at,
    build_payment_request,
    capture_owed,
    record_authorized,
)
from payments.services.errors import GatewayRejected, GatewayUnavailable
from payments.services.messages import provider_code_of, public_message
from payments.services.pan import pan_refuse
from payments.services.state import mark_failed, mark_unavailable, mark_unknown

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
    request = build_payment_request(
        payment,
        saved_method.provider_method_id,
        capture=capture,
        provider_customer_id=saved_method.provider_customer_id,
        off_session=True,
    )
    adapter = adapter_for(saved_method.account)
    try:
        result = authorize_at(payment, request, adapter)
    except Rejected as exc:
        return mark_failed(payment, exc)
    except NotProcessed as exc:
        mark_unavailable(payment, exc)
        raise GatewayUnavailable(
            "The payment gateway could not be reached; nothing was charged."
        ) from exc
    except ProviderError:
        return mark_unknown(payment)
    payment = record_authorized(payment, result, saved_method.account)
    return capture_owed(payment) if capture else payment


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
