"""A recurring charge's slots: when the next one falls, the key that fixes
each slot's charge, and the payments of one slot's period (one paid late)."""

import logging
from datetime import datetime, timedelta

from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce

from integrations.clock import database_now, stamp
from payments.models import (
    MONEY_HOLDING_STATUSES,
    Payment,
    PaymentNote,
    PaymentStatus,
    RecurringCharge,
    RecurringInterval,
    ReviewReason,
    ReviewState,
    SavedPaymentMethod,
)
from payments.providers.base import RETRY_AFTER
from payments.services.reconcile import RECURRING_KEY_PREFIX
from payments.services.settle import SETTLED_FAILED
from payments.services.state import Change, advance, log_ids

logger = logging.getLogger("payments.services")

OPEN = (PaymentStatus.PENDING, PaymentStatus.UNKNOWN, PaymentStatus.REQUIRES_ACTION)

# A slot's failed payment that nothing charged and no gateway declined (a
# fault of ours, found or cancelled as nothing at the gateway, settled so by
# staff): its slot is charged again, the subscription never stopped for it.
NOT_CHARGED = frozenset(
    {"not_found_at_provider", "cancelled_at_provider", SETTLED_FAILED}
)


# The run's own payments: made under a slot's key, which they keep or had
# freed (a try that reached no gateway). A storefront's payment has the key
# its caller gave (a slot's is refused), so what its metadata names is not
# trusted: it never counts for, nor against, a recurring period.
RUN_MADE = Q(idempotency_key__isnull=True) | Q(
    idempotency_key__startswith=RECURRING_KEY_PREFIX
)


def recurring_id(payment: Payment) -> str:
    """The public id of the recurring charge ``payment`` is a try of ("" if
    none, or if the run did not make it)."""
    key = payment.idempotency_key
    if key is not None and not key.startswith(RECURRING_KEY_PREFIX):
        return ""
    return str(payment.metadata.get("recurring_charge") or "")


def slot_after(recurring: RecurringCharge, slot: datetime) -> datetime:
    """The slot that follows ``slot`` on ``recurring``'s schedule."""
    return next_run(
        slot, recurring.interval, recurring.interval_count, recurring.anchor_day
    )


def schedule_restart(
    recurring: RecurringCharge, now: datetime, *, unpaid: bool = False
) -> bool:
    """Restart the schedule of a charge charged again after a stop (a resume,
    a period paid late, a new method) if its date passed meanwhile: the
    period it begins is due now; the periods missed are never back-charged.
    A date still ahead is kept, unless the period running now is ``unpaid``
    (its charge declined): then too it is restarted now, or the rest of that
    period would be served free. Sets the fields; True if restarted."""
    if recurring.next_run_at >= now and not unpaid:
        return False
    recurring.next_run_at, recurring.anchor_day = now, now.day
    return True


def decline_kept(recurring: RecurringCharge) -> bool:
    """Whether ``recurring``'s latest try was declined while it was paused
    and that decline still waits to stop it: its period is unpaid."""
    latest = latest_try(recurring)
    if latest is None or latest.status != PaymentStatus.FAILED:
        return False
    kinds = set(latest.notes.values_list("kind", flat=True))
    return (
        "recurring_paused_decline" in kinds
        and not {
            "recurring_unpaused",
            "recurring_slot_declined",
            "recurring_period_paid",
        }
        & kinds
    )


def latest_try(recurring: RecurringCharge) -> Payment | None:
    """``recurring``'s latest try that keeps its slot's key (a decline does;
    an indexed prefix look-up)."""
    prefix = f"{RECURRING_KEY_PREFIX}{recurring.public_id}:"
    return (
        Payment.objects.filter(idempotency_key__startswith=prefix)
        .order_by("-pk")
        .first()
    )


def next_run(
    when: datetime, interval: str, count: int, anchor_day: int | None = None
) -> datetime:
    if interval == RecurringInterval.DAY:
        return when + timedelta(days=count)
    if interval == RecurringInterval.WEEK:
        return when + timedelta(weeks=count)
    months = count * (12 if interval == RecurringInterval.YEAR else 1)
    month_index = when.month - 1 + months
    year, month = when.year + month_index // 12, month_index % 12 + 1
    # The 31st of a short month becomes its last day; the anchor comes back.
    wanted = anchor_day or when.day
    for day in (wanted, *(d for d in (30, 29, 28) if d < wanted)):
        try:
            return when.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise ValueError("unreachable")


def nothing_charged(payment: Payment) -> bool:
    return (
        payment.status == PaymentStatus.FAILED and payment.failure_code in NOT_CHARGED
    )


def slot_key(recurring: RecurringCharge, slot: datetime) -> str:
    return f"{RECURRING_KEY_PREFIX}{recurring.public_id}:{slot.isoformat()}"


def slot_of(key: str) -> datetime | None:
    # The slot a recurring payment's key names (slot_key).
    try:
        return datetime.fromisoformat(key.split(":", 2)[2])
    except (IndexError, ValueError):
        return None


def period_slot(payment: Payment) -> datetime | None:
    """The slot ``payment``'s period charges: named in a try's metadata (the
    run writes it there), else by the key a try of it still holds. A key
    alone is not enough: a try that reached no gateway frees it."""
    tries = period_payments(payment).values_list("metadata", flat=True)
    for metadata in (payment.metadata, *tries):
        named = metadata.get("recurring_slot")
        try:
            return datetime.fromisoformat(named)
        except (TypeError, ValueError):
            continue
    holder = period_payments(payment).filter(
        idempotency_key__startswith=RECURRING_KEY_PREFIX
    )
    return slot_of(str(holder.values_list("idempotency_key", flat=True).first()))


def recurring_of(payment: Payment) -> RecurringCharge | None:
    public_id = recurring_id(payment)
    if not public_id:
        return None
    return RecurringCharge.objects.filter(public_id=public_id).first()


def period_payments(payment: Payment) -> QuerySet[Payment]:
    """Every payment of ``payment``'s period: a slot charged again keeps its
    order id (the claim moves the slot's key on to the new payment); only
    the run's (``RUN_MADE``)."""
    public_id = recurring_id(payment)
    if not public_id:
        return Payment.objects.none()
    return Payment.objects.filter(
        RUN_MADE, metadata__recurring_charge=public_id, order_id=payment.order_id
    )


def period_charged_elsewhere(payment: Payment) -> Payment | None:
    """Another payment of ``payment``'s period that holds (or may yet hold)
    its charge: the period is paid, or being paid, by that one."""
    return (
        period_payments(payment)
        .exclude(pk=payment.pk)
        .filter(status__in=(*MONEY_HOLDING_STATUSES, *OPEN))
        .order_by("pk")
        .first()
    )


def period_paid_elsewhere(payment: Payment) -> bool:
    """Another payment of ``payment``'s period holds its money (one failed,
    then reported paid): the period's slot is not to be charged again. Read
    under their row locks (in the caller's transaction): a try reported paid
    at this moment is waited for, not read as still failed."""
    if any(p.status in MONEY_HOLDING_STATUSES for p in period_lock(payment)):
        logger.info("recurring slot paid by another payment", extra=log_ids(payment))
        return True
    return False


def period_lock(payment: Payment) -> list[Payment]:
    """The other payments of ``payment``'s period, row-locked in pk order (in
    the caller's transaction): a try of the period reported paid meanwhile is
    waited for, then seen. Only a try that was open (or is ending failed)
    takes them; the late payment's path (``period_paid``) reads them
    unlocked, under the recurring charge's lock, so no cycle."""
    others = period_payments(payment).exclude(pk=payment.pk).order_by("pk")
    return list(others.select_for_update())


def period_charged(payment: Payment) -> None:
    """A try of a recurring period came to hold money (the run's answer,
    reconciliation, a webhook, staff): another try of the period holding
    money too means the period was charged twice (staff refund one)."""
    if payment.status not in MONEY_HOLDING_STATUSES:
        return
    if not recurring_id(payment):
        return
    # Each other charge, not only the first: a period charged three times
    # needs two refunds (the earlier try of each pair is reviewed).
    for holder in period_lock(payment):
        if holder.status in MONEY_HOLDING_STATUSES:
            _charged_twice(*sorted((payment, holder), key=lambda p: p.pk))
    _overlap_charged(payment)


def _overlap_charged(payment: Payment) -> None:
    """``payment`` charges a restart that falls inside an earlier period
    already paid (a declined try reported paid while the restart's outcome
    was open): those days are paid twice, so the earlier goes to review."""
    began = _try_slot(payment)
    if began is None:
        return
    earlier = (
        Payment.objects.filter(
            RUN_MADE,
            metadata__recurring_charge=recurring_id(payment),
            pk__lt=payment.pk,
            status__in=MONEY_HOLDING_STATUSES,
        )
        .exclude(order_id=payment.order_id)
        .order_by("-pk")[:3]
    )
    recurring = recurring_of(payment)
    for other in earlier:
        slot = _try_slot(other)
        if recurring is None or slot is None:
            continue
        paid_until = next_run(
            slot, recurring.interval, recurring.interval_count, slot.day
        )
        if slot < began < paid_until:
            _charged_twice(other, payment)


def decline_stops(payment: Payment) -> bool:
    """Whether a try's decline stops its recurring charge: not when another
    try of its period holds the money. The period is paid; the next
    period's charge tells whether the card still works."""
    holder = next(
        (
            p
            for p in period_lock(payment)
            if p.status in MONEY_HOLDING_STATUSES and p.pk < payment.pk
        ),
        None,
    )
    if holder is None:
        return True
    logger.info("recurring try declined; period paid", extra=log_ids(payment))
    PaymentNote.objects.create(
        payment=payment,
        kind="recurring_period_paid",
        title=f"Declined; this period is paid by {holder.public_id}"[:255],
        detail="This try of the period was declined, but an earlier try of it "
        "was paid: the recurring charge was not stopped for this decline.",
    )
    return False


def period_paid(payment: Payment, *, restarted_since: bool = True) -> None:
    """A slot given back for ``payment`` (failed as never charged) is taken
    back while no run charged it again. Charged again: two charges for one
    period, so staff are asked to refund one. Being charged again (its
    outcome open): noted; reviewed when that try is found paid
    (``period_charged``), and never given back meanwhile. ``restarted_since``
    False: the charge was still stopped by this period's decline, so no
    resume or move restarted it inside the period (``_restart_paid``)."""
    # Row-locked: two tries of the period reported paid at once are taken
    # one after the other, so the second reads the first paid (no cycle:
    # every path takes payments before the recurring charge).
    public_id = recurring_id(payment)
    recurring = (
        RecurringCharge.objects.select_for_update().filter(public_id=public_id).first()
    )
    if not public_id or recurring is None:
        return
    slot = period_slot(payment)
    # Taken back first: a run claiming the slot meanwhile makes this a no-op,
    # and its payment is then found below.
    if slot is not None and (
        RecurringCharge.objects.filter(pk=recurring.pk, next_run_at=slot).update(
            next_run_at=slot_after(recurring, slot),
            last_payment=payment,
            updated_at=stamp(),
        )
    ):
        logger.info("recurring slot paid after all; taken back", extra=log_ids(payment))
    if slot is not None and restarted_since:
        _restart_paid(payment, recurring, slot)
    other = period_charged_elsewhere(payment)
    if other is None:
        return
    if other.status in OPEN:
        PaymentNote.objects.create(
            payment=payment,
            kind="recurring_rerun_open",
            title=f"This period is being charged again by {other.public_id}"[:255],
            detail="Its outcome is not known yet: this payment goes to review "
            "only if that charge is found taken too.",
        )
        return
    _charged_twice(payment, other)


def _restart_paid(payment: Payment, recurring: RecurringCharge, slot: datetime) -> None:
    """A restart inside ``payment``'s period (the charge resumed or moved
    after its decline, which the gateway now reports paid) falls in days
    that period paid: not charged yet, it is taken back to the period's end;
    charged, the customer paid those days twice (``_charged_twice``)."""
    paid_until = next_run(slot, recurring.interval, recurring.interval_count, slot.day)
    if RecurringCharge.objects.filter(
        pk=recurring.pk, next_run_at__gt=slot, next_run_at__lt=paid_until
    ).update(next_run_at=paid_until, anchor_day=slot.day, updated_at=stamp()):
        logger.info(
            "recurring restart in a paid period taken back", extra=log_ids(payment)
        )
        return
    later = (
        Payment.objects.filter(
            RUN_MADE,
            metadata__recurring_charge=recurring.public_id,
            pk__gt=payment.pk,
            status__in=MONEY_HOLDING_STATUSES,
        )
        .exclude(order_id=payment.order_id)
        .order_by("pk")
    )
    for other in later:
        began = _try_slot(other)
        if began is not None and slot < began < paid_until:
            _charged_twice(payment, other)


def _try_slot(payment: Payment) -> datetime | None:
    """The slot a run's try charged: its key's, else the one it names."""
    named = slot_of(str(payment.idempotency_key or ""))
    if named is not None:
        return named
    try:
        return datetime.fromisoformat(payment.metadata.get("recurring_slot"))
    except (TypeError, ValueError):
        return None


def _charged_twice(late: Payment, other: Payment) -> None:
    """``late`` (the earlier try, paid after its period was charged again)
    goes to review with a note naming ``other``; once per payment: each
    charge of the period but one is reviewed."""
    if late.notes.filter(kind="recurring_charged_twice").exists():
        return
    logger.error("recurring period charged twice; in review", extra=log_ids(late))
    PaymentNote.objects.create(
        payment=late,
        kind="recurring_charged_twice",
        title=f"This period was charged again by {other.public_id}"[:255],
        detail="The gateway reported this payment paid after its period was "
        f"charged again ({other.public_id}, {other.status}): refund one of the "
        "two charges.",
    )
    if late.review_state != ReviewState.PENDING:
        advance(
            late,
            Change(
                fields={
                    "review_state": ReviewState.PENDING,
                    "review_reason": ReviewReason.PROVIDER_CONTRADICTION,
                }
            ),
        )


# When a failure was learnt. A row stored before pay26 has no such time: its
# charge's creation stands in (the order the rule read then), never its
# updated_at, which any later write of the row (a repeated event) moves.
LEARNT = Coalesce("failure_learnt_at", "created_at")
# No network advises a longer wait: an older advice is over.
LONGEST_WAIT = max(RETRY_AFTER.values())
# Our code for a one-off charge refused unsent inside the wait (methods.py).
RETRY_WAIT = "card_retry_wait"


def advised_until(
    method: SavedPaymentMethod, now: datetime | None = None
) -> datetime | None:
    """When the latest wait a card network advised for ``method`` ends
    (Mastercard's MAC 24-30, counted from when the decline was learnt),
    unless a charge of it made after that advice was learnt was approved.
    The card's advice, whichever charge was given it: each recurring charge
    on the card waits (the run, a restart, a new one). None if no wait is
    still on at ``now`` (default: the database's time, as the decline's
    stamp is: ``integrations.clock``)."""
    # Read for every due slot of every run: only the advice that can still
    # be on, and the card's approvals since, never all of a busy card's
    # charges (revpay28). No MAX: PostgreSQL would walk created_at's index
    # backwards through every payment for it.
    now = now or database_now()
    advised = list(
        Payment.objects.filter(saved_method=method, failure_advice_code__in=RETRY_AFTER)
        .annotate(learnt=LEARNT)
        .filter(learnt__gt=now - LONGEST_WAIT)
        .order_by()
        .values_list("status", "learnt", "failure_advice_code")
    )
    # Failed ones, sorted here: a filter on status lets the planner take the
    # status index (few failed rows in its statistics) and not the method's.
    advised = [
        (learnt, advice)
        for status, learnt, advice in advised
        if status == PaymentStatus.FAILED
    ]
    if not advised:
        return None
    # The card's approvals since (a few days' worth), by its index: no
    # ORDER BY ... LIMIT, which the planner may serve by created_at's.
    since = Payment.objects.filter(
        saved_method=method,
        status__in=MONEY_HOLDING_STATUSES,
        created_at__gt=min(learnt for learnt, _ in advised),
    )
    last = max(since.order_by().values_list("created_at", flat=True), default=None)
    ends = (
        learnt + RETRY_AFTER[advice]
        for learnt, advice in advised
        if last is None or learnt >= last
    )
    return max(ends, default=None)
