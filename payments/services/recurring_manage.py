"""Recurring charges a storefront or staff manage: create one on a customer's
saved method, pause, resume and cancel it. Each change takes the charge's
row lock; the run (recurring.py) claims a slot only while the charge is
active and never writes its status back, so a pause or a cancel landing
during a run stays."""

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction

from integrations import money, registry
from integrations.clock import database_now
from integrations.row_sql import row_insert
from payments.models import (
    MONEY_HOLDING_STATUSES,
    Payment,
    PaymentStatus,
    RecurringCharge,
    RecurringInterval,
    RecurringStatus,
    SavedPaymentMethod,
)
from payments.providers.base import DECLINE_CODES
from payments.providers.base import HARD_DECLINES as HARD_DECLINES  # its old home
from payments.services.attempts import KIND, adapter_for
from payments.services.card_rule import (
    DECLINED_FOR_GOOD,
    final_decline,
    hard_declined,
)
from payments.services.cards import card_lock
from payments.services.errors import InvalidState, KeyReused, PaymentError
from payments.services.reconcile import RECURRING_KEY_PREFIX
from payments.services.slots import (
    advised_until,
    decline_kept,
    latest_try,
    schedule_restart,
)
from payments.services.state import FAILED_AT_PROVIDER, INSERT_CLOCK, recurring_save

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


# What a resume charges again: a pause, or a stop for a decline.
RESUMABLE = (RecurringStatus.PAUSED, RecurringStatus.FAILED)


class MethodNotFound(PaymentError):
    """No saved method of that id for this customer (another's is not shown)."""

    code = "payment_method_not_found"


class MethodUnusable(PaymentError):
    """The saved method cannot be charged (expired, its account disabled)."""

    code = "payment_method_unusable"


class MethodDeclined(MethodUnusable):
    """The charge stopped for a hard decline of this method: charged again,
    it is declined again (``card_rule``)."""

    code = DECLINED_FOR_GOOD


class RetriesExhausted(MethodDeclined):
    """The charge was retried on this method after soft declines as often as
    card networks allow in their window (RECURRING_SOFT_DECLINE_RETRY_LIMIT)."""

    code = "payment_method_retries_exhausted"


# The card networks' window for retries of one charge on one card.
RETRY_WINDOW = timedelta(days=30)
# Tries counted against the cap: the card's declines, and those whose answer
# was lost and reconciliation found declined (each reached the card network).
RETRY_COUNTED = (*DECLINE_CODES, FAILED_AT_PROVIDER)


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
    idempotency_key: str | None = None,
) -> RecurringCharge:
    """A new active recurring charge of ``amount`` on the customer's saved
    method, first charged at ``first_run_at`` (default now). The charge made
    under ``idempotency_key`` already, if the same request (KeyReused if
    not): a replay after the API's record of the key expired is no twin."""
    asked = {
        "amount": amount,
        "currency": str(currency).strip().upper(),
        "interval": interval,
        "interval_count": interval_count,
        "description": description,
    }
    if idempotency_key:
        made = RecurringCharge.objects.filter(idempotency_key=idempotency_key).first()
        if made is not None:
            return _create_repeat(made, customer_reference, method_id, asked)
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
    method = _customer_method(customer_reference, method_id)
    asked["currency"] = currency
    with transaction.atomic():
        # The card's rule read under its lock, to the charge's commit.
        card_lock(method.pk)
        method_check(method, first_run_at)
        first_run_at = _after_card_wait(method, first_run_at)
        recurring = _keyed_create(
            idempotency_key,
            (customer_reference, method_id, asked),
            saved_method=method,
            next_run_at=first_run_at,
            anchor_day=first_run_at.day,
        )
    logger.info("recurring charge created", extra={"recurring_id": recurring.public_id})
    return recurring


def _after_card_wait(method: SavedPaymentMethod, first_run_at: datetime) -> datetime:
    """``first_run_at``, or the end of the card network's wait if later: the
    wait is the card's, so a new charge on it waits too. Read at the
    database's time: the wait's end is a database stamp (``cards``)."""
    until = advised_until(method, database_now())
    return until if until is not None and first_run_at < until else first_run_at


def _keyed_create(
    key: str | None, request: tuple[str, str, dict[str, Any]], **fields: Any
) -> RecurringCharge:
    """The new charge (``request``'s fields and ``fields``) under ``key``;
    or the charge the same key's create committed first, concurrently."""
    customer_reference, method_id, asked = request
    try:
        with transaction.atomic():
            # Both stamps by the database's clock, in the INSERT itself, as
            # every later write's updated_at is.
            return row_insert(
                RecurringCharge(**asked, **fields, idempotency_key=key or None),
                db_clock=INSERT_CLOCK,
            )
    except IntegrityError:
        if not key:
            raise
        made = RecurringCharge.objects.get(idempotency_key=key)
        return _create_repeat(made, customer_reference, method_id, asked)


def _create_repeat(
    made: RecurringCharge,
    customer_reference: str,
    method_id: str,
    asked: dict[str, Any],
) -> RecurringCharge:
    """``made``, its key's charge, if it was this create (customer, method,
    amount, currency, interval, description); else KeyReused."""
    method = made.saved_method
    same = (method.customer_reference, method.public_id) == (
        customer_reference,
        method_id,
    ) and all(getattr(made, name) == value for name, value in asked.items())
    if same:
        return made
    raise KeyReused(
        "This idempotency key was already used for another recurring charge.",
        param="idempotency_key",
    )


def _customer_method(customer_reference: str, method_id: str) -> SavedPaymentMethod:
    """The customer's saved method ``method_id``; MethodNotFound otherwise
    (another customer's is not told apart from none)."""
    method = (
        SavedPaymentMethod.objects.select_related("account")
        .filter(public_id=method_id, customer_reference=customer_reference)
        .first()
    )
    if method is None:
        raise MethodNotFound(
            "No such payment method for this customer.", param="payment_method"
        )
    return method


def _first_run(first_run_at: datetime | None) -> datetime:
    """``first_run_at`` (default now), refused in the past or too far ahead.
    Now is the database's, as the run's due pick: a web machine ahead would
    write a first slot the next run does not find due."""
    now = database_now()
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
    """MethodUnusable if ``method`` cannot be charged at ``when``: its last
    word from the issuer a hard decline (MethodDeclined), its card expired by
    then (valid through its expiry month) or its account disabled."""
    if hard_declined(method):
        raise _declined()
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
    _callable_check(method)


def _callable_check(method: SavedPaymentMethod) -> None:
    """MethodUnusable if this deploy cannot call ``method``'s account (not a
    payments account, its provider dropped, a bad configuration, credentials
    no key opens): refused now rather than failing at every run. What broke
    is logged for staff, never told to the caller."""
    try:
        if method.account.kind != KIND:
            raise ImproperlyConfigured(f"a {method.account.kind} account")
        adapter_for(method.account)
    except registry.ACCOUNT_UNCALLABLE as error:
        logger.error(
            "recurring charge refused: its account cannot be called",
            extra={"account": method.account.slug, "error": type(error).__name__},
        )
        raise MethodUnusable(
            "The payment method's gateway account cannot be used by this "
            "deploy; use another payment method.",
            param="payment_method",
        ) from None


def recurring_pause(*, recurring: RecurringCharge, actor: str = "") -> RecurringCharge:
    """Stop charging until resumed. Only an active charge."""
    with transaction.atomic():
        row = _locked(recurring, RecurringStatus.ACTIVE, "paused")
        row.status = RecurringStatus.PAUSED
        recurring_save(row, ["status", "updated_at"])
    _log("recurring charge paused", row, actor)
    return row


def recurring_resume(*, recurring: RecurringCharge, actor: str = "") -> RecurringCharge:
    """Charge again. If its date passed while paused (or stopped), the
    periods missed are not back-charged, but the period the resume begins is
    charged at once and the schedule restarts from now: pausing over each
    renewal and resuming after it never serves a period unpaid. A date still
    ahead is kept (a failed one's is not: its period was declined). Each
    period's charge is keyed by its date, so none is charged twice. Only a
    paused charge, or a failed one (declined: the customer may have mended
    the card; the next decline stops it again)."""
    with transaction.atomic():
        row = _card_locked(recurring, RESUMABLE, "resumed")
        decline = _stopping_decline(row)
        _hard_decline_refuse(row, decline, row.saved_method)
        _retries_check(row, row.saved_method)
        overdue = _restart(row)
        _advised_wait(row, decline, row.saved_method)
        method_check(row.saved_method, row.next_run_at)
        recurring_save(row, ["status", "next_run_at", "anchor_day", "updated_at"])
    _log("recurring charge resumed", row, actor, restarted=overdue)
    return row


def recurring_method_change(
    *, recurring: RecurringCharge, method_id: str, actor: str = ""
) -> RecurringCharge:
    """Charge another saved method of the same customer from now on; a
    failed charge (declined) is resumed on it, as ``recurring_resume`` does.
    A paused one stays paused; any but a cancelled one. The method must be
    usable at the next run (``method_check``)."""
    customer = recurring.saved_method.customer_reference  # never changes
    with transaction.atomic():
        method = _customer_method(customer, method_id)
        # The new card's rule is read: its lock first, as in a resume.
        card_lock(method.pk)
        row = _locked(recurring, None, "moved to another payment method")
        overdue = False
        if row.status == RecurringStatus.FAILED:
            decline = _stopping_decline(row)
            _hard_decline_refuse(row, decline, method)
            _retries_check(row, method)
            overdue = _restart(row)
            _advised_wait(row, decline, method)
        method_check(method, row.next_run_at)
        row.saved_method = method
        recurring_save(
            row,
            [
                "saved_method",
                "status",
                "next_run_at",
                "anchor_day",
                "updated_at",
            ],
        )
    _log(
        "recurring charge moved to another method",
        row,
        actor,
        method_id=method.public_id,
        restarted=overdue,
    )
    return row


def recurring_default_method_move(
    *, recurring: RecurringCharge, actor: str = ""
) -> RecurringCharge:
    """``recurring_method_change`` to the customer's default saved method
    (staff's one-click move after the customer added a card)."""
    customer = recurring.saved_method.customer_reference
    default = (
        SavedPaymentMethod.objects.filter(customer_reference=customer, is_default=True)
        .exclude(pk=recurring.saved_method_id)
        .values_list("public_id", flat=True)
        .first()
    )
    if default is None:
        raise MethodNotFound(
            "The customer has no other saved method as default.",
            param="payment_method",
        )
    return recurring_method_change(recurring=recurring, method_id=default, actor=actor)


def _stopping_decline(row: RecurringCharge) -> Payment | None:
    """The decline ``row`` stopped for (or, paused, waits to stop for)."""
    if row.status == RecurringStatus.FAILED:
        decline = row.last_payment
    else:
        decline = latest_try(row) if decline_kept(row) else None
    if decline is None or decline.status != PaymentStatus.FAILED:
        return None
    return decline


def _advised_wait(
    row: RecurringCharge, decline: Payment | None, method: SavedPaymentMethod
) -> None:
    """``row``, restarted for ``decline`` (its unpaid period), next run on
    ``method`` no sooner than the card network advised (Mastercard's MAC
    24-30: retry after an hour to ten days, counted from when the decline
    was learnt): a retry before then is declined again and counts against
    the card's retries. The card's advice, whichever charge was given it (a
    charge moved back to the card after a decline elsewhere waits too),
    until a charge of it made since is approved."""
    if decline is None:
        return
    # At the database's time, as the wait's end (a stamp of its clock).
    until = advised_until(method, database_now())
    if until is not None and row.next_run_at < until:
        row.next_run_at, row.anchor_day = until, until.day


def _hard_decline_refuse(
    row: RecurringCharge, decline: Payment | None, method: SavedPaymentMethod
) -> None:
    """MethodDeclined if ``decline``, that ``row`` stopped (or, paused, waits
    to stop) for, is a hard decline of ``method`` made before payments named
    their method (``method_check`` judges those that do): each resume on it
    would be one more certain decline at the gateway. The storefront moves
    the charge."""
    if decline is None:
        return
    if not final_decline(decline) or decline.saved_method_id:
        return
    # Its metadata's method, or (older still) the charge's own.
    named = decline.metadata.get("recurring_method") or row.saved_method.public_id
    if named == method.public_id:
        raise _declined()


def _retries_check(row: RecurringCharge, method: SavedPaymentMethod) -> None:
    """RetriesExhausted if ``row``'s declined tries on ``method`` in the
    window exceed the limit: a resume would be one retry more than card
    networks allow (the first decline was no retry). Declines before the
    charge's latest paid try were retries of a transaction since done."""
    tries = Payment.objects.filter(
        idempotency_key__startswith=f"{RECURRING_KEY_PREFIX}{row.public_id}:"
    )
    paid = (
        tries.filter(status__in=MONEY_HOLDING_STATUSES)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    )
    declined = tries.filter(
        pk__gt=paid or 0,
        saved_method=method,
        status=PaymentStatus.FAILED,
        failure_code__in=RETRY_COUNTED,
        # created_at is the database's time (state.payment_insert): so is the window.
        created_at__gte=database_now() - RETRY_WINDOW,
    ).count()
    if declined > settings.RECURRING_SOFT_DECLINE_RETRY_LIMIT:
        raise RetriesExhausted(
            "The charge was retried on this payment method as often as card "
            "networks allow for now; move it to another payment method.",
            param="payment_method",
        )


def _declined() -> MethodDeclined:
    return MethodDeclined(
        "The payment method was declined for good (card lost, stolen, "
        "expired or closed, payments stopped by the cardholder, or the "
        "issuer said not to try again); move the charge to another payment "
        "method.",
        param="payment_method",
    )


def _restart(row: RecurringCharge) -> bool:
    """``row`` active again, its schedule restarted if its date passed. A
    failed one's period was declined (unpaid), as is a paused one's whose
    decline came while paused: restarted now in any case, or a card declined
    each period and resumed each time is never charged."""
    unpaid = row.status == RecurringStatus.FAILED or decline_kept(row)
    row.status = RecurringStatus.ACTIVE
    # The database's now, as the run's due pick: a date passed, and the slot
    # restarted, mean the same on every machine.
    return schedule_restart(row, database_now(), unpaid=unpaid)


def recurring_cancel(*, recurring: RecurringCharge, actor: str = "") -> RecurringCharge:
    """Stop for good: a cancelled charge is never charged nor resumed."""
    with transaction.atomic():
        row = _locked(recurring, None, "cancelled")
        row.status = RecurringStatus.CANCELLED
        recurring_save(row, ["status", "updated_at"])
    _log("recurring charge cancelled", row, actor)
    return row


def _card_locked(
    recurring: RecurringCharge, needed: str | tuple[str, ...] | None, verb: str
) -> RecurringCharge:
    """``_locked``, its card's row locked first (``cards.card_lock``): the
    card's rule then read cannot miss a failure being stored, which takes
    the card's lock before the charge's, as this does. Moved to another
    card meanwhile (rare): both locks let go (a savepoint's) and taken again
    on the card found; never that card's waited for under the charge's,
    which whoever holds it takes next (a deadlock)."""
    while True:
        method_id = (
            RecurringCharge.objects.filter(pk=recurring.pk)
            .values_list("saved_method_id", flat=True)
            .get()
        )
        try:
            with transaction.atomic():
                card_lock(method_id)
                row = _locked(recurring, needed, verb)
                if row.saved_method_id == method_id:
                    return row
                raise _CardMoved
        except _CardMoved:
            continue


class _CardMoved(Exception):
    """The charge's card changed between its read and the charge's lock."""


def _locked(
    recurring: RecurringCharge, needed: str | tuple[str, ...] | None, verb: str
) -> RecurringCharge:
    """The charge's row, locked; InvalidState unless its status is ``needed``
    (one of them; ``None``: any but cancelled)."""
    row = (
        RecurringCharge.objects.select_for_update(of=("self",))
        .select_related("saved_method__account")
        .get(pk=recurring.pk)
    )
    if needed is None:
        allowed = row.status != RecurringStatus.CANCELLED
    else:
        allowed = row.status in (needed if isinstance(needed, tuple) else (needed,))
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
