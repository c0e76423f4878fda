"""Recurring charges a storefront or staff manage: create one on a customer's
saved method, pause, resume and cancel it. Each change takes the charge's
row lock; the run (recurring.py) claims a slot only while the charge is
active and never writes its status back, so a pause or a cancel landing
during a run stays."""

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from integrations import money
from payments.models import (
    RecurringCharge,
    RecurringInterval,
    RecurringStatus,
    SavedPaymentMethod,
)
from payments.services.errors import InvalidState, PaymentError
from payments.services.slots import schedule_restart

logger = logging.getLogger("payments.services")

# How far in the past a first run may be (a clock a little behind ours).
FIRST_RUN_TOLERANCE = timedelta(minutes=5)
# How far ahead a first run may be (a trial's length, as gateways cap it): a
# charge never due, or a typo'd year, is refused rather than stored.
FIRST_RUN_AHEAD = timedelta(days=730)
# The longest period, as card networks and gateways allow: one year.
MAX_INTERVAL_COUNT = {
    RecurringInterval.DAY: 365,
    RecurringInterval.WEEK: 52,
    RecurringInterval.MONTH: 12,
    RecurringInterval.YEAR: 1,
}


class MethodNotFound(PaymentError):
    """No saved method of that id for this customer (another's is not shown)."""

    code = "payment_method_not_found"


class MethodUnusable(PaymentError):
    """The saved method cannot be charged (expired, its account disabled)."""

    code = "payment_method_unusable"


def recurring_create(
    *,
    customer_reference: str,
    method_id: str,
    amount: int,
    currency: str,
    interval: str,
    interval_count: int = 1,
    first_run_at: datetime | None = None,
    description: str = "",
) -> RecurringCharge:
    """A new active recurring charge of ``amount`` on the customer's saved
    method, first charged at ``first_run_at`` (default now)."""
    first_run_at = _first_run(first_run_at)
    if interval not in MAX_INTERVAL_COUNT:
        raise PaymentError("Unknown interval.", code="invalid", param="interval")
    if not 1 <= interval_count <= MAX_INTERVAL_COUNT[interval]:
        raise PaymentError(
            f"interval_count of a {interval} is 1 to "
            f"{MAX_INTERVAL_COUNT[interval]} (a period of at most a year).",
            code="invalid_interval_count",
            param="interval_count",
        )
    currency = money.validate_currency(currency)
    if amount < 1:
        raise PaymentError("The amount must be positive.", param="amount")
    money.check_limit(amount, currency)
    method = (
        SavedPaymentMethod.objects.select_related("account")
        .filter(public_id=method_id, customer_reference=customer_reference)
        .first()
    )
    if method is None:
        raise MethodNotFound(
            "No such payment method for this customer.", param="payment_method"
        )
    method_check(method, first_run_at)
    recurring = RecurringCharge.objects.create(
        saved_method=method,
        amount=amount,
        currency=currency,
        interval=interval,
        interval_count=interval_count,
        next_run_at=first_run_at,
        anchor_day=first_run_at.day,
        description=description,
    )
    logger.info("recurring charge created", extra={"recurring_id": recurring.public_id})
    return recurring


def _first_run(first_run_at: datetime | None) -> datetime:
    """``first_run_at`` (default now), refused in the past or too far ahead."""
    now = timezone.now()
    if first_run_at is None:
        return now
    if first_run_at < now - FIRST_RUN_TOLERANCE:
        raise PaymentError(
            "The first run may not be in the past.",
            code="first_run_in_past",
            param="first_run_at",
        )
    if first_run_at > now + FIRST_RUN_AHEAD:
        raise PaymentError(
            "The first run may be at most two years ahead.",
            code="first_run_too_far",
            param="first_run_at",
        )
    return first_run_at


def method_check(method: SavedPaymentMethod, when: datetime) -> None:
    """MethodUnusable if ``method`` cannot be charged at ``when``: its card
    expired by then (valid through its expiry month) or its account disabled."""
    expiry = (method.exp_year or 0, method.exp_month or 0)
    if all(expiry) and (when.year, when.month) > expiry:
        raise MethodUnusable(
            "The payment method's card has expired.",
            code="payment_method_expired",
            param="payment_method",
        )
    if not method.account.enabled:
        raise MethodUnusable(
            "The payment method's gateway account is disabled.",
            param="payment_method",
        )


def recurring_pause(*, recurring: RecurringCharge, actor: str = "") -> RecurringCharge:
    """Stop charging until resumed. Only an active charge."""
    with transaction.atomic():
        row = _locked(recurring, RecurringStatus.ACTIVE, "paused")
        row.status = RecurringStatus.PAUSED
        row.save(update_fields=["status", "updated_at"])
    _log("recurring charge paused", row, actor)
    return row


def recurring_resume(*, recurring: RecurringCharge, actor: str = "") -> RecurringCharge:
    """Charge again. If its date passed while paused, the periods missed are
    not back-charged, but the period the resume begins is charged at once
    and the schedule restarts from now: pausing over each renewal and
    resuming after it never serves a period unpaid. A date still ahead is
    kept. Each period's charge is keyed by its date, so none is charged
    twice. Only a paused charge."""
    now = timezone.now()
    with transaction.atomic():
        row = _locked(recurring, RecurringStatus.PAUSED, "resumed")
        overdue = schedule_restart(row, now)
        method_check(row.saved_method, row.next_run_at)
        row.status = RecurringStatus.ACTIVE
        row.save(update_fields=["status", "next_run_at", "anchor_day", "updated_at"])
    _log("recurring charge resumed", row, actor, restarted=overdue)
    return row


def recurring_cancel(*, recurring: RecurringCharge, actor: str = "") -> RecurringCharge:
    """Stop for good: a cancelled charge is never charged nor resumed."""
    with transaction.atomic():
        row = _locked(recurring, None, "cancelled")
        row.status = RecurringStatus.CANCELLED
        row.save(update_fields=["status", "updated_at"])
    _log("recurring charge cancelled", row, actor)
    return row


def _locked(
    recurring: RecurringCharge, needed: str | None, verb: str
) -> RecurringCharge:
    """The charge's row, locked; InvalidState unless its status is ``needed``
    (``None``: any but cancelled)."""
    row = (
        RecurringCharge.objects.select_for_update(of=("self",))
        .select_related("saved_method__account")
        .get(pk=recurring.pk)
    )
    allowed = (
        row.status == needed if needed else row.status != RecurringStatus.CANCELLED
    )
    if not allowed:
        raise InvalidState(
            f"A {row.status} recurring charge cannot be {verb}.", param="status"
        )
    return row


def _log(message: str, row: RecurringCharge, actor: str, **extra: object) -> None:
    logger.info(
        message,
        extra={"recurring_id": row.public_id, "actor": actor, **extra},
    )
