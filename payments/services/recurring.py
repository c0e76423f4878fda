"""Recurring charges: the run that charges each due slot of a saved method,
and the slot a try that charged nothing gives back (a kill, a failure with
nothing charged). What a try's decline, late payment or refund does to its
recurring charge: recurring_outcomes.py."""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef

from integrations import money
from integrations.clock import database_now, stamp
from integrations.secrets_registry import staff_text
from payments.models import (
    Payment,
    PaymentAttempt,
    PaymentNote,
    PaymentStatus,
    RecurringCharge,
    RecurringStatus,
)
from payments.services.attempts import adapter_for
from payments.services.card_rule import final_decline_in_force
from payments.services.errors import GatewayUnavailable
from payments.services.methods import method_velocity_lock, saved_method_send
from payments.services.reconcile import (
    DUPLICATE_CODES,
    RECURRING_KEY_PREFIX,
    not_sent_fail,
)
from payments.services.recurring_outcomes import recurring_decline_stop
from payments.services.slots import (
    OPEN,
    advised_until,
    latest_try,
    nothing_charged,
    period_paid_elsewhere,
    recurring_of,
    slot_after,
    slot_key,
    slot_of,
)
from payments.services.state import lock_payment, payment_insert

# One logger for the whole package, named as before the split, so log
# records and logging configuration keep addressing it.
logger = logging.getLogger("payments.services")

# A run's outcome for a charge held for its card network's advice.
HELD = "held"


@dataclass
class RecurringRun:
    """What one run of the recurring charges did: ``charged``; ``unknown``
    (the gateway did not answer: reconciliation settles them); ``declined``
    (those recurring charges stop, unless an earlier try of the period was
    paid; and those stopped unsent, their card declined for good by another
    charge); ``retry`` (nothing charged, the slot is given back to the next
    run); ``held``: one line per recurring charge held for its card
    network's advice (nothing sent; its slot moved to the wait's end);
    ``errors``: one line per recurring charge a fault of ours stopped (its
    slot given back too)."""

    charged: int = 0
    unknown: int = 0
    declined: int = 0
    retry: int = 0
    held: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_result(self) -> dict[str, Any]:
        """The run as the scheduled task's result (what the admin shows):
        the counts, the held charges (at most 20; ``held`` counts them all),
        ``failed`` for the faults of ours, and their first lines (secrets
        masked)."""
        return {
            "charged": self.charged,
            "unknown": self.unknown,
            "declined": self.declined,
            "retry": self.retry,
            "held": len(self.held),
            "held_charges": self.held[:20],
            "failed": len(self.errors),
            # A bounded result; ``failed`` counts them all.
            "errors": [staff_text(line) for line in self.errors[:20]],
        }


def recurring_charges_run(*, now: datetime | None = None) -> int:
    """Charge every active recurring charge that is due; the number charged
    (``recurring_charges_report`` says the rest)."""
    return recurring_charges_report(now=now).charged


def recurring_charges_report(*, now: datetime | None = None) -> RecurringRun:
    """Charge every active recurring charge that is due. Each due slot is
    claimed with its payment in one transaction by a conditional update, so
    two workers never charge it twice, and its idempotency key is fixed by
    the slot. A slot a dead run left claimed is given back first."""
    # Due, and the card network's wait, judged at the database's time (the
    # wait's end is a database stamp, cards): workers whose clocks differ
    # neither charge a slot early nor pass one over. A caller's ``now`` (tests).
    now = now or database_now()
    run = RecurringRun()
    _recurring_orphans_release(now)
    due = RecurringCharge.objects.filter(
        status=RecurringStatus.ACTIVE, next_run_at__lte=now
    ).select_related("saved_method__account")
    for recurring in due.order_by("next_run_at", "pk")[
        : settings.PAYMENTS_RECURRING_BATCH
    ]:
        try:
            outcome = _recurring_run_one(recurring, now)
        except Exception as exc:
            # One recurring charge's fault; the others are still charged.
            logger.error(
                "recurring charge run stopped",
                extra={
                    "recurring_id": recurring.public_id,
                    "error": type(exc).__name__,
                },
            )
            # Masked before it is cut: a secret cut there would leave its head.
            first = (staff_text(str(exc)).strip().splitlines() or [""])[0][:200]
            run.errors.append(f"{recurring.public_id}: {type(exc).__name__}: {first}")
            continue
        if outcome == HELD:
            until = recurring.next_run_at.isoformat()
            run.held.append(f"{recurring.public_id} until {until}")
        elif outcome:
            setattr(run, outcome, getattr(run, outcome) + 1)
    return run


def _recurring_run_one(recurring: RecurringCharge, now: datetime) -> str:
    """Run one due slot; the RecurringRun counter it adds to (``HELD`` if
    this run moved it to the end of its card network's wait, judged at
    ``now``, the database's time; "" if another worker took the slot or
    moved it)."""
    if _decline_finish(recurring):
        return "declined"
    stopped = _card_declined_stop(recurring)
    if stopped is not None:
        return "declined" if stopped else ""
    held = _advice_wait(recurring, now)
    if held is not None:
        return HELD if held else ""
    slot = recurring.next_run_at
    following = slot_after(recurring, slot)
    # Before the claim: an account this deploy cannot call claims nothing.
    adapter = adapter_for(recurring.saved_method.account)
    payment, created = _recurring_claim(recurring, slot, following)
    if payment is None:
        return ""
    if created:
        new = payment

        def release() -> bool:
            # Not when an earlier try of the period was reported paid meanwhile.
            with transaction.atomic():
                paid = period_paid_elsewhere(new)
                return not paid and _slot_release(recurring.pk, slot, following)

        try:
            # A decline stops the charge in the transaction that stores it.
            payment = saved_method_send(
                payment,
                recurring.saved_method,
                adapter,
                not_charged=release,
                declined=recurring_payment_failed,
            )
        except BaseException as exc:
            # Nothing charged (its key is freed; slot given back with it) or
            # the outcome is being reconciled: either way the slot's key never
            # charges it twice.
            release()
            if isinstance(exc, GatewayUnavailable):
                return "retry"
            raise
    return _recurring_record(recurring, payment, decided=created)


def _card_declined_stop(recurring: RecurringCharge) -> bool | None:
    """Whether ``recurring``'s card was declined for good by any of its
    charges (a one-off's, another recurring charge's) since it was judged
    last (``final_decline_in_force``; None if not): charged again it would be
    declined again, a retry card networks fine. Nothing is sent: it stops
    (failed, as for its own decline: a move, or a resume once the card is
    mended), the decline noted on that payment's timeline; True if this run
    stopped it. Its slot's own try, if charged, is recorded first."""
    decline = final_decline_in_force(recurring.saved_method)
    if decline is None:
        return None
    slot = recurring.next_run_at
    tried = Payment.objects.filter(idempotency_key=slot_key(recurring, slot)).first()
    if tried is not None and not nothing_charged(tried):
        return None
    with transaction.atomic():
        # The payment's lock (its note's) before the charge's, as every path.
        lock_payment(decline.pk)
        # On the card read, as the claim: a move or a pause since stops nothing.
        if not RecurringCharge.objects.filter(
            pk=recurring.pk,
            next_run_at=slot,
            status=RecurringStatus.ACTIVE,
            saved_method_id=recurring.saved_method_id,
        ).update(status=RecurringStatus.FAILED, updated_at=stamp()):
            return False
        PaymentNote.objects.create(
            payment=decline,
            kind="recurring_card_declined",
            title=f"Recurring charge {recurring.public_id} stopped for this decline",
            detail="The card was declined for good: the recurring charge on it "
            "was stopped before its run, nothing charged. Move it to another "
            "payment method, or resume it once the card is approved again.",
        )
    logger.warning(
        "recurring charge stopped; its card was declined for good",
        extra={
            "recurring_id": recurring.public_id,
            "payment_id": decline.public_id,
            "failure_code": decline.failure_code,
        },
    )
    return True


def _advice_wait(recurring: RecurringCharge, now: datetime) -> bool | None:
    """Whether the card network's "retry after" wait for ``recurring``'s card
    (any charge's decline gave it) is on at ``now`` (None if not): its due
    slot then moves to the wait's end, the anchor day kept; True if this run
    moved it (``recurring`` then holds the new time). A charge sent before
    would be declined again and count against the card's retries."""
    until = advised_until(recurring.saved_method, now)
    if until is None or until <= now:
        return None
    # The slot's try declined late: nothing is sent; its stop is not held.
    tried = Payment.objects.filter(
        idempotency_key=slot_key(recurring, recurring.next_run_at)
    ).first()
    if tried is not None and not nothing_charged(tried):
        return None
    # On the card read: a move to another card committed since is not held
    # by this card's wait (as the claim).
    if RecurringCharge.objects.filter(
        pk=recurring.pk,
        next_run_at=recurring.next_run_at,
        status=RecurringStatus.ACTIVE,
        saved_method_id=recurring.saved_method_id,
    ).update(next_run_at=until, updated_at=stamp()):
        logger.info(
            "recurring charge waits for the card network's advice",
            extra={"recurring_id": recurring.public_id, "until": until.isoformat()},
        )
        recurring.next_run_at = until
        return True
    return False


def _decline_finish(recurring: RecurringCharge) -> bool:
    """The charge's latest try was declined and the decline never stopped
    it: learnt while it was paused (then unpaused), or stored by a run killed
    before its stop (they once were two transactions). Stopped now, before
    anything is charged; True if so. A decline the run recorded is its
    ``last_payment``; one whose period was paid stops nothing."""
    latest = latest_try(recurring)
    if latest is None or not _declined(latest):
        return False
    kinds = set(latest.notes.values_list("kind", flat=True))
    # Kept while paused (the run may have recorded it, its outcome unknown
    # then), until the stop it waited for.
    kept = "recurring_paused_decline" in kinds and "recurring_unpaused" not in kinds
    # Judged already: its period paid by another try, or a later one charged.
    if {"recurring_period_paid", "recurring_slot_declined"} & kinds or (
        latest.pk == recurring.last_payment_id and not kept
    ):
        return False
    with transaction.atomic():
        row = lock_payment(latest.pk)
        recurring_payment_failed(row)
        stopped = RecurringCharge.objects.filter(
            pk=recurring.pk, status=RecurringStatus.FAILED, last_payment=row
        ).exists()
        if stopped and kept:
            PaymentNote.objects.create(
                payment=row,
                kind="recurring_unpaused",
                title="The recurring charge, unpaused, stopped for this decline",
                detail="Declined while it was paused: the first run after it "
                "was unpaused stopped it before charging anything.",
            )
    return stopped


def _recurring_claim(
    recurring: RecurringCharge, slot: datetime, following: datetime
) -> tuple[Payment | None, bool]:
    """Move the slot on and store its payment in one transaction: a run that
    dies after it leaves a pending payment a later run finds. (None, False)
    when another worker claimed the slot; (payment, False) when an earlier
    run of this slot made its payment already."""
    key = slot_key(recurring, slot)
    with transaction.atomic():
        # The slot's earlier payment is locked before the recurring row, the
        # order a webhook about that payment takes them in: no deadlock.
        existing = (
            Payment.objects.select_for_update().filter(idempotency_key=key).first()
        )
        # On the method this run read: a move committed since claims nothing
        # (the next run charges the new method).
        claimed = RecurringCharge.objects.filter(
            pk=recurring.pk,
            next_run_at=slot,
            status=RecurringStatus.ACTIVE,
            saved_method_id=recurring.saved_method_id,
        ).update(next_run_at=following, updated_at=stamp())
        if not claimed:
            return None, False
        if existing is not None and not nothing_charged(existing):
            return existing, False
        if existing is not None:
            # Failed by a fault of ours, nothing charged: not the card's
            # decline. Its key is freed and the slot charged again.
            Payment.objects.filter(pk=existing.pk).update(
                idempotency_key=None, updated_at=stamp()
            )
        # Not screened, but counted: a screening of this customer waits
        # for this commit, as for a saved-method charge's.
        method_velocity_lock(recurring.saved_method)
        payment = payment_insert(
            Payment(
                order_id=f"{recurring.public_id}-{slot:%Y%m%d%H%M}",
                amount=recurring.amount,
                currency=money.validate_currency(recurring.currency),
                capture_requested=True,
                customer_reference=recurring.saved_method.customer_reference,
                # The slot named too: a try that reaches no gateway frees its key.
                # The method too: a decline found after a move is the old one's.
                metadata={
                    "recurring_charge": recurring.public_id,
                    "recurring_slot": slot.isoformat(),
                    "recurring_method": recurring.saved_method.public_id,
                },
                idempotency_key=key,
                saved_method=recurring.saved_method,
            )
        )
    return payment, True


def _slot_release(recurring_pk: int, slot: datetime, following: datetime) -> bool:
    """Give a claimed slot back to the next run (unless it moved on since)."""
    return bool(
        RecurringCharge.objects.filter(pk=recurring_pk, next_run_at=following).update(
            next_run_at=slot, updated_at=stamp()
        )
    )


def _declined(payment: Payment) -> bool:
    # A duplicate's period may be charged (in review when another payment
    # holds its charge), and one found never charged has its slot given back
    # (recurring_slot_give_back): neither is the card's decline.
    return (
        payment.status == PaymentStatus.FAILED
        and payment.failure_code not in DUPLICATE_CODES
        and not nothing_charged(payment)
    )


def _recurring_record(
    recurring: RecurringCharge, payment: Payment, *, decided: bool
) -> str:
    """Record the run of ``payment``; ``decided``: its decline, if any, was
    judged when it was stored (``saved_method_send``'s ``declined``)."""
    # The payment's lock, then its period's (slots.period_lock): an earlier
    # try of the period reported paid meanwhile is seen by a decline.
    with transaction.atomic():
        payment = lock_payment(payment.pk)
        failed = payment.status == PaymentStatus.FAILED
        declined = _declined(payment)
        if declined and not decided:
            recurring_payment_failed(payment)
        fields: dict[str, Any] = {"runs": recurring.runs + 1}
        # A decline kept for when it is unpaused is not recorded as run.
        if not payment.notes.filter(kind="recurring_paused_decline").exists():
            fields["last_payment"] = payment
        RecurringCharge.objects.filter(pk=recurring.pk).update(**fields)
    logger.info(
        "recurring charge run",
        extra={
            "recurring_id": recurring.public_id,
            "payment_id": payment.public_id,
            "status": payment.status,
        },
    )
    if declined:
        return "declined"
    if nothing_charged(payment):
        return "retry"
    return "unknown" if failed or payment.status in OPEN else "charged"


def recurring_payment_failed(payment: Payment) -> None:
    """A recurring slot's payment ended failed after its run (reconciliation,
    staff): the run's rule. A decline stops the recurring charge; nothing
    charged gives the slot back. Called in the transaction that fails it, so
    a kill between the two writes loses no period."""
    if _declined(payment):
        recurring_decline_stop(payment)
    else:
        recurring_slot_give_back(payment)


def recurring_slot_give_back(payment: Payment) -> bool:
    """A recurring slot's payment that reconciliation (or staff) ended failed
    with nothing charged, by no decline: its slot is given back, so the next
    run charges it again as after a fault after the claim (a new payment, so
    a new gateway key; the claim frees this one's slot key). Only while the
    schedule is one period past the slot: further on, staff are told."""
    key = str(payment.idempotency_key or "")
    if not nothing_charged(payment) or not key.startswith(RECURRING_KEY_PREFIX):
        return False
    recurring = recurring_of(payment)
    slot = slot_of(key)
    if recurring is None or slot is None:
        return False
    active = RecurringCharge.objects.filter(
        pk=recurring.pk, status=RecurringStatus.ACTIVE
    )
    if not active.exists():
        return False  # cancelled or stopped meanwhile: nothing to charge
    if period_paid_elsewhere(payment):
        return False  # an earlier try of the period was paid after all
    following = slot_after(recurring, slot)
    # Given back now, or the schedule has not passed the slot yet.
    if _slot_release(recurring.pk, slot, following) or (
        active.filter(next_run_at__lte=slot).exists()
    ):
        logger.info(
            "recurring slot not charged; given back",
            extra={"payment_id": payment.public_id},
        )
        return True
    logger.error(
        "recurring slot not charged; the schedule has moved on",
        extra={"payment_id": payment.public_id},
    )
    PaymentNote.objects.create(
        payment=payment,
        kind="recurring_slot_missed",
        title="This period of the recurring charge was not charged",
        detail="Nothing was charged for this period and the schedule has "
        "moved on since: charge the customer's period by hand.",
    )
    return False


def _recurring_orphans_release(now: datetime) -> None:
    """A run killed between its claim and the gateway call (SIGKILL, the
    worker's timeout) left a pending payment no gateway was asked about:
    fail it (key freed) and give its slot back, so this run charges it.
    Only past PAYMENTS_RECONCILE_AFTER_MINUTES, far beyond a task's life."""
    # Aged by its claim's created_at, the database's time (payment_insert) as
    # ``now`` is, not by a later write's updated_at: a worker whose clock is
    # off neither has its live charge swept nor its orphan left.
    stale = now - timedelta(minutes=settings.PAYMENTS_RECONCILE_AFTER_MINUTES)
    orphans = Payment.objects.filter(
        status=PaymentStatus.PENDING,
        idempotency_key__startswith=RECURRING_KEY_PREFIX,
        account__isnull=True,
        attempts__isnull=True,
        created_at__lte=stale,
    ).order_by("pk")
    for payment in orphans[: settings.PAYMENTS_RECURRING_BATCH]:
        _recurring_orphan_release(payment)


def _recurring_orphan_release(payment: Payment) -> None:
    recurring = recurring_of(payment)
    slot = slot_of(str(payment.idempotency_key))
    # One transaction: a kill between the two would lose the period.
    with transaction.atomic():
        # Taken by a conditional touch in it: two runs at once release it
        # once (the second waits for the first's commit, then matches
        # nothing), and a kill undoes the touch with the rest. Not if an
        # attempt was stored since it was listed: the gateway is being asked
        # (reconciliation's then), as the one-off sweep's (_unsent_end).
        if not Payment.objects.filter(
            ~Exists(PaymentAttempt.objects.filter(payment=OuterRef("pk"))),
            pk=payment.pk,
            status=PaymentStatus.PENDING,
            updated_at=payment.updated_at,
        ).update(updated_at=stamp()):
            return
        not_sent_fail(payment, "run stopped")
        given_back = (
            recurring is not None
            and slot is not None
            and not period_paid_elsewhere(payment)
            and _slot_release(
                recurring.pk,
                slot,
                slot_after(recurring, slot),
            )
        )
    logger.warning(
        "recurring payment of a stopped run released",
        extra={"payment_id": payment.public_id, "slot_given_back": given_back},
    )
