"""Reconciliation: ask the gateway what became of a payment whose outcome is
open, by its reference or the create's idempotency key."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from integrations.errors import ProviderError, Unknown
from integrations.models import ProviderAccount
from payments.models import Payment, PaymentStatus, RefundStatus, ReviewState
from payments.providers.base import PaymentLookup, PaymentsAdapter
from payments.services.attempts import _adapter, _provider_key
from payments.services.create import _capture_owed, _owes_capture
from payments.services.errors import PaymentError
from payments.services.refunds import _refund_send
from payments.services.state import (
    _advance,
    _Change,
    _change_from_result,
    _ids,
    reconciliation_schedule,
)

# One logger for the whole package, named as before the split, so log
# records and logging configuration keep addressing it.
logger = logging.getLogger("payments.services")


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
