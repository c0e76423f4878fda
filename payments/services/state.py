"""Status changes, and the outcomes every gateway call shares.

Status changes go through ``advance`` under a row lock, only along
``TRANSITIONS``, with their outbox event in the same transaction. An unknown
outcome sets the payment ``unknown`` and schedules reconciliation.
"""

import copy
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, transaction
from django.db.models.signals import post_save, pre_save
from django.utils import timezone

from integrations.errors import ProviderError
from integrations.events import event_emit
from integrations.models import ProviderAccount
from integrations.row_sql import row_insert, row_update
from payments.models import (
    CORRECTIONS,
    NOT_COLLECTED,
    Payment,
    PaymentNote,
    PaymentStatus,
    RecurringCharge,
    ReviewReason,
    ReviewState,
)
from payments.providers.base import PaymentResult, ProviderStatus
from payments.services.cards import card_lock, learnt_at

# One logger for the whole package, named as before the split, so log
# records and logging configuration keep addressing it.
logger = logging.getLogger("payments.services")

RECONCILE_TASK = "payments.tasks.reconcile_payment"


# --- State changes ---------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    status: str | None = None
    authorized: int | None = None
    captured: int | None = None
    fields: dict[str, Any] | None = None
    # The provider's own report of money (a webhook, a look-up): may make the
    # CORRECTIONS moves, which undo what the storefront was told.
    provider_says: bool = False


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
        "customer_email": payment.customer_email,
        "status": payment.status,
        "amount": payment.amount,
        "currency": payment.currency,
        "amount_authorized": payment.amount_authorized,
        "amount_captured": payment.amount_captured,
        "amount_refunded": payment.amount_refunded,
        **extra,
    }


def emit_event(payment: Payment, name: str, **extra: Any) -> None:
    event_emit(
        name=name,
        payload=_event_payload(payment, **extra),
        subject=f"payment:{payment.public_id}",
        # Loaded already where a gateway answered (``change_from_result``).
        account=payment.account,
        # In the API's commit group: with the group's commit, one statement
        # with the idempotency response (integrations.group_sql).
        defer=True,
    )


def lock_payment(payment_id: int) -> Payment:
    return Payment.objects.select_for_update().get(pk=payment_id)


def advance(payment: Payment, change: Change) -> Payment:
    """Apply ``change`` to the locked row: amounts only grow, the status only
    moves along TRANSITIONS (or CORRECTIONS, on the provider's word); emits
    the new status's event. Returns the row."""
    # No savepoint: inside a caller's transaction (a commit group) an error
    # here aborts it whole, and SAVEPOINT/RELEASE would be two more trips.
    with transaction.atomic(savepoint=False):
        row, before = _advance_guarded(payment, change)
        moved, corrected = row is not None, False
        if row is None:
            row, before, moved, corrected = _advance_locked(payment, change)
        if (moved or corrected) and change.status == PaymentStatus.FAILED:
            _failure_card_lock(row)
        if (moved or corrected) and change.status in _STATUS_EVENTS:
            extra = {"corrected_from": before} if corrected else {}
            emit_event(row, _STATUS_EVENTS[change.status], **extra)
    if change.status not in (None, before) and not (moved or corrected):
        logger.info(
            "payment transition ignored",
            extra={
                "payment_id": row.public_id,
                "status": before,
                "requested": change.status,
            },
        )
    return row


def _failure_card_lock(row: Payment) -> None:
    """A card's charge failed: its card's row lock, held to the commit, so a
    resume or a new recurring charge reading the card's rule meanwhile waits
    for this failure (``cards.card_lock``). After the payment's own lock,
    before the recurring charge's: the order every path takes them in."""
    if row.saved_method_id is not None:
        card_lock(row.saved_method_id)


def _advance_locked(
    payment: Payment, change: Change
) -> tuple[Payment, str, bool, bool]:
    """``advance`` under a row lock, saving the whole row: (row, status
    before, moved, corrected)."""
    row = lock_payment(payment.pk)
    before = row.status
    moved = change.status is not None and row.can_transition(change.status)
    corrected = not moved and correction_allowed(row, change)
    _apply_amounts(row, change)
    for name, value in _fields_taken(change, moved or corrected).items():
        setattr(row, name, value)
    if moved or corrected:
        row.status = change.status
        if change.status == PaymentStatus.FAILED:
            row.failure_learnt_at = learnt_at(row)
    if corrected:
        _correct(row, before, change)
    if moved or corrected:
        failure_settled(row, before, change)
    payment_save(row)
    return row, before, moved, corrected


def _fields_taken(change: Change, moves: bool) -> dict[str, Any]:
    """``change``'s fields the row takes: a status it does not move to brings
    no failure of its own (a decline answered or looked up after a webhook
    captured the payment, a second decline of a failed one: the first stays)."""
    fields = change.fields or {}
    if change.status is None or moves:
        return fields
    return {name: v for name, v in fields.items() if not name.startswith("failure_")}


# What the plain move reads from the row, and what plain UPDATEs change: while
# the row still holds these values (updated_at moves with every save), the
# caller's copy with the change applied is the row the locked path returns.
_GUARDED = (
    "status",
    "amount_authorized",
    "amount_captured",
    "amount_refunded",
    "failure_code",
    "review_state",
    "updated_at",
    # Written by plain UPDATEs that leave updated_at (attempts.keep_unknown).
    "account_id",
    "provider_reference",
)


def _advance_guarded(payment: Payment, change: Change) -> tuple[Payment | None, str]:
    """A plain TRANSITIONS move (no correction, no failure to clear) as one
    UPDATE of the changed columns, guarded by what the caller's copy holds:
    no lock and no full-row write (~3k Python calls fewer). (None, status)
    when it does not apply or the row changed: take the lock then."""
    before = payment.status
    if (
        payment.pk is None
        or change.status is None
        or payment.failure_code
        or not payment.can_transition(change.status)
        or payment.get_deferred_fields()
    ):
        return None, before
    row = _clone(payment)
    guard = {name: getattr(row, name) for name in _GUARDED}
    _apply_amounts(row, change)
    for name, value in (change.fields or {}).items():
        setattr(row, name, value)
    row.status = change.status
    names = dict.fromkeys(
        ["status", "amount_authorized", "amount_captured", *(change.fields or {})]
    )
    if change.status == PaymentStatus.FAILED:
        row.failure_learnt_at = learnt_at(row)
        names["failure_learnt_at"] = None
    if not row_update(row, names, where=guard, db_clock=DB_CLOCK):
        return None, before
    return row, before


# A payment's updated_at is the database's time, as its created_at is: the
# sweeps measure how long it was left alone by the database's clock.
DB_CLOCK = ("updated_at",)
# Both stamps of a new payment (or recurring charge): its INSERT's own
# statement_timestamp().
INSERT_CLOCK = ("created_at", "updated_at")


def payment_insert(payment: Payment) -> Payment:
    """INSERT the new ``payment`` as one hand-built statement (the ORM's
    create() costs ~1.5k calls), ``created_at`` and ``updated_at`` the
    database's time in it (``integrations.row_sql``): ages are measured by
    that clock (the sweeps, reconciliation, the card's rule). IntegrityError
    on a unique conflict, as ``save()`` raises it."""
    # The signals ``save()`` sent (a card's and a run's payment were saved):
    # a receiver watching payments stored still hears of each (almost free
    # with none connected).
    sender, using = type(payment), DEFAULT_DB_ALIAS
    pre_save.send(sender, instance=payment, raw=False, using=using, update_fields=None)
    row_insert(payment, using=using, db_clock=INSERT_CLOCK)
    post_save.send(
        sender,
        instance=payment,
        created=True,
        raw=False,
        using=using,
        update_fields=None,
    )
    return payment


def payment_save(row: Payment, names: Iterable[str] | None = None) -> None:
    """``row.save()`` (of ``names`` only, if given) as one UPDATE stamping
    ``updated_at`` with the database's time (``integrations.row_sql``);
    nothing listens to a payment's save."""
    if names is None:
        names = [f.name for f in row._meta.concrete_fields if not f.primary_key]
    row_update(row, names, db_clock=DB_CLOCK)


def recurring_save(row: RecurringCharge, names: Iterable[str]) -> None:
    """``row.save(update_fields=names)`` as one UPDATE stamping ``updated_at``
    with the database's time, read back into ``row``, as a payment's
    (``DB_CLOCK``). DatabaseError if the row is gone, as ``save()`` raises."""
    if not row_update(row, names, db_clock=DB_CLOCK):
        raise DatabaseError("Save with update_fields did not affect any rows.")


def _clone(payment: Payment) -> Payment:
    """A shallow copy, as ``copy.copy`` makes it (own state and related
    cache) without pickling's per-attribute checks."""
    cls = type(payment)  # a proxy (PaymentReview) stays one
    row = cls.__new__(cls)
    row.__dict__.update(payment.__dict__)
    row._state = copy.copy(payment._state)
    row._state.fields_cache = dict(payment._state.fields_cache)
    return row


def _apply_amounts(row: Payment, change: Change) -> None:
    if change.authorized is not None:
        row.amount_authorized = min(
            row.amount, max(row.amount_authorized, change.authorized)
        )
    if change.captured is not None:
        # More than was asked for cannot be booked (the database refuses it):
        # the excess is the gateway's error, logged for staff.
        if change.captured > row.amount:
            logger.error(
                "gateway reported more captured than requested",
                extra={"payment_id": row.public_id},
            )
        captured = min(row.amount, change.captured)
        row.amount_captured = max(row.amount_captured, captured)
        row.amount_authorized = max(row.amount_authorized, row.amount_captured)


def correction_allowed(row: Payment, change: Change) -> bool:
    """A CORRECTIONS move the provider reported, that its life cycle allows:
    a failure it called final stays final, and refunded money cannot be
    uncollected (staff settle that with the provider)."""
    if not change.provider_says or change.status is None:
        return False
    if change.status not in CORRECTIONS.get(row.status, frozenset()):
        return False
    if row.status == PaymentStatus.FAILED:
        # Failed by a correction: not collected, under that code or the
        # decline's the gateway reported with it (``_correct``).
        corrected = row.review_reason == ReviewReason.PROVIDER_CONTRADICTION
        return row.failure_code != NOT_COLLECTED and not corrected
    return row.amount_refunded == 0


def _correct(row: Payment, before: str, change: Change) -> None:
    """The provider contradicted what the storefront was told: amounts follow
    its word, the move goes on the timeline and the payment to review."""
    if row.status == PaymentStatus.FAILED:
        row.amount_captured = row.amount_authorized = 0
        # The decline the gateway reported, if any: the card's rule reads it.
        declined = "failure_code" in (change.fields or {})
        row.failure_code = row.failure_code if declined else NOT_COLLECTED
        row.failure_message = "The gateway did not collect the money after all."
    row.review_state = ReviewState.PENDING
    row.review_reason = ReviewReason.PROVIDER_CONTRADICTION
    PaymentNote.objects.create(
        payment=row,
        kind="correction",
        title=f"{before} -> {row.status}, on the gateway's word",
        detail="Contradicts what the storefront was told; in review.",
    )
    logger.warning(
        "payment corrected on the gateway's word",
        extra={"payment_id": row.public_id, "status": before, "new": row.status},
    )


def failure_settled(row: Payment, before: str, change: Change) -> None:
    """Failure fields belong to a failed (or unsettled) payment: once it moves
    on to money moved or released, they go to the timeline and are cleared."""
    if not row.failure_code or (change.fields and "failure_code" in change.fields):
        return
    # Failed on the gateway's word after we could not tell: its failure, not
    # the in-flight "reconciling" of the unknown, is what the payment shows.
    restated = row.status == PaymentStatus.FAILED and row.failure_code in _IN_FLIGHT
    if row.status not in _SETTLED_OK and not restated:
        return
    PaymentNote.objects.create(
        payment=row,
        kind="failure_cleared",
        title=f"{before}: {row.failure_code}",
        detail=row.failure_message[:500],
    )
    row.failure_code = row.failure_message = row.failure_provider_code = ""
    row.failure_advice_code = ""
    if restated:
        from payments.services.messages import public_message

        row.failure_code = FAILED_AT_PROVIDER
        row.failure_message = public_message(FAILED_AT_PROVIDER)


# Failure codes of a payment whose outcome was not known yet.
_IN_FLIGHT = frozenset({"outcome_unknown", "no_provider_available"})
FAILED_AT_PROVIDER = "failed_at_provider"


# Statuses that leave no failure to show.
_SETTLED_OK = frozenset(
    {
        PaymentStatus.REQUIRES_ACTION,
        PaymentStatus.AUTHORIZED,
        PaymentStatus.CAPTURED,
        PaymentStatus.PARTIALLY_REFUNDED,
        PaymentStatus.REFUNDED,
        PaymentStatus.VOIDED,
    }
)


_RESULT_STATUS = {
    ProviderStatus.PENDING: PaymentStatus.PENDING,
    ProviderStatus.REQUIRES_ACTION: PaymentStatus.REQUIRES_ACTION,
    ProviderStatus.AUTHORIZED: PaymentStatus.AUTHORIZED,
    ProviderStatus.CAPTURED: PaymentStatus.CAPTURED,
    ProviderStatus.VOIDED: PaymentStatus.VOIDED,
    ProviderStatus.FAILED: PaymentStatus.FAILED,
}


def change_from_result(
    result: PaymentResult, account: ProviderAccount | None = None
) -> Change:
    fields: dict[str, Any] = {"provider_reference": result.provider_reference}
    if account is not None:
        fields["account"] = account
    for name in ("card_brand", "card_last4", "wallet"):
        if getattr(result, name):
            fields[name] = getattr(result, name)
    if result.status is ProviderStatus.FAILED and result.decline is not None:
        # The look-up's decline, as the create call's would have been stored.
        from payments.services.messages import decline_fields

        fields.update(decline_fields(result.decline))
    return Change(
        status=_RESULT_STATUS[result.status],
        authorized=result.amount_authorized,
        captured=result.amount_captured,
        fields=fields,
    )


def log_ids(payment: Payment) -> dict[str, Any]:
    return {"payment_id": payment.public_id}


# --- Outcomes of a gateway call ----------------------------------------------


def mark_failed(payment: Payment, error: ProviderError) -> Payment:
    """Failed with our own message for the code; the provider's text goes to
    the timeline for staff, secrets masked (``services.messages``)."""
    from payments.services.messages import decline_fields, provider_text_keep

    with transaction.atomic():
        provider_text_keep(payment, error, "authorize")
        return advance(
            payment, Change(status=PaymentStatus.FAILED, fields=decline_fields(error))
        )


def mark_unknown(payment: Payment) -> Payment:
    payment = advance(
        payment,
        Change(
            status=PaymentStatus.UNKNOWN,
            fields={
                "failure_code": "outcome_unknown",
                "failure_message": "The gateway did not answer; reconciling.",
            },
        ),
    )
    reconciliation_schedule(payment=payment)
    return payment


def mark_unavailable(payment: Payment, error: ProviderError) -> None:
    # Nothing was charged anywhere: free the key so the caller may retry it.
    advance(
        payment,
        Change(
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
