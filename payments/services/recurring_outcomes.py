"""What a recurring slot's try ending after its run does to its recurring
charge: a decline stops it (or, a later period charged since, is left to
staff), a payment reported paid after all undoes the stop its period made,
a refund of a failed try is noted. The run itself: recurring.py."""

import logging

from django.db import transaction

from integrations import money
from integrations.clock import database_now
from payments.models import (
    MONEY_HOLDING_STATUSES,
    Payment,
    PaymentNote,
    PaymentStatus,
    RecurringCharge,
    RecurringStatus,
)
from payments.services.reconcile import RECURRING_KEY_PREFIX
from payments.services.slots import (
    RUN_MADE,
    decline_stops,
    period_paid,
    period_payments,
    recurring_id,
    recurring_of,
    schedule_restart,
)
from payments.services.state import lock_payment, log_ids, recurring_save

# One logger for the whole package, named as before the split, so log
# records and logging configuration keep addressing it.
logger = logging.getLogger("payments.services")


def recurring_decline_stop(payment: Payment) -> None:
    """A slot's decline learnt after its run stops the recurring charge, as
    in the run; unless a later period was charged since (the method works):
    that period is then left to staff with a note."""
    recurring = recurring_of(payment)
    key = str(payment.idempotency_key or "")
    if recurring is None or not key.startswith(RECURRING_KEY_PREFIX):
        return
    if not decline_stops(payment):
        return  # an earlier try of its period was paid
    later = Payment.objects.filter(
        RUN_MADE,
        metadata__recurring_charge=recurring.public_id,
        pk__gt=payment.pk,
        status__in=MONEY_HOLDING_STATUSES,
    )
    if not later.exists():
        _decline_stop(recurring.pk, payment)
        return
    PaymentNote.objects.create(
        payment=payment,
        kind="recurring_slot_declined",
        title="This period of the recurring charge was declined",
        detail="Declined after its run, and later periods were charged since: "
        "collect this one by hand.",
    )


def _decline_stop(recurring_pk: int, payment: Payment) -> None:
    """Stop an active recurring charge for ``payment``'s decline, naming it:
    a success the gateway reports for that one later undoes the stop. A
    paused one stays paused, the decline noted: the first run once it is
    unpaused stops it (``_decline_finish``). A cancelled one stays so."""
    # Row-locked after the payments, as every path takes them.
    recurring = (
        RecurringCharge.objects.select_for_update(of=("self",))
        .select_related("saved_method")
        .get(pk=recurring_pk)
    )
    if _moved_since(recurring, payment):
        return
    if recurring.status == RecurringStatus.ACTIVE:
        recurring.status = RecurringStatus.FAILED
        recurring.last_payment = payment
        recurring_save(recurring, ["status", "last_payment", "updated_at"])
        logger.warning("recurring charge declined; stopped", extra=log_ids(payment))
        return
    if recurring.status != RecurringStatus.PAUSED:
        return
    if payment.notes.filter(kind="recurring_paused_decline").exists():
        return
    logger.warning("recurring charge declined while paused", extra=log_ids(payment))
    PaymentNote.objects.create(
        payment=payment,
        kind="recurring_paused_decline",
        title="Declined while the recurring charge was paused",
        detail="This period is unpaid. The recurring charge stays paused; "
        "the first run after it is unpaused stops it (the method was "
        "declined) before charging anything.",
    )


def _moved_since(recurring: RecurringCharge, payment: Payment) -> bool:
    """A try's decline on a method ``recurring`` has left since (a move): the
    new method was never tried, so nothing stops. Its period is unpaid, so
    an active or paused charge restarts now on the new method, as a move of
    a charge that decline had stopped does; noted for staff. Tries made
    before the method was recorded count as on the current one."""
    tried_on = payment.metadata.get("recurring_method")
    if not tried_on or tried_on == recurring.saved_method.public_id:
        return False
    # A date passed is kept: the run at hand charges it to the new method.
    # Both at the database's time, as the run's due pick (recurring.py).
    live = (RecurringStatus.ACTIVE, RecurringStatus.PAUSED)
    now = database_now()
    if recurring.status in live and recurring.next_run_at > now:
        schedule_restart(recurring, now, unpaid=True)
        recurring_save(recurring, ["next_run_at", "anchor_day", "updated_at"])
    logger.warning("recurring try declined on a method left", extra=log_ids(payment))
    PaymentNote.objects.create(
        payment=payment,
        kind="recurring_slot_declined",
        title="Declined on a method the recurring charge has left",
        detail="This period's try was declined on the previous method after "
        "the charge moved to another: not stopped; its schedule restarted on "
        "the new method. Check this period was collected.",
    )
    return True


def recurring_payment_paid(payment: Payment) -> None:
    """A slot's payment the gateway failed, then reported paid (its failure
    was not final, or its look-up missed it): its period counts as paid, so
    a stop that a decline of this period made (this try's, or a later try's
    of the same period), if still in force, is undone, on its timeline."""
    public_id = recurring_id(payment)
    if not public_id:
        return
    # Row-locked after the payment, as every path takes them.
    resumed = (
        RecurringCharge.objects.select_for_update()
        .filter(
            public_id=public_id,
            status=RecurringStatus.FAILED,
            last_payment__in=period_payments(payment),
        )
        .first()
    )
    if resumed is not None:
        resumed.status, resumed.last_payment = RecurringStatus.ACTIVE, payment
        # Stopped since its date passed: restarted as a resume restarts it
        # (at the database's time).
        restarted = schedule_restart(resumed, database_now())
        recurring_save(
            resumed,
            ["status", "last_payment", "next_run_at", "anchor_day", "updated_at"],
        )
        logger.warning(
            "recurring charge resumed; period paid",
            extra={**log_ids(payment), "restarted": restarted},
        )
        PaymentNote.objects.create(
            payment=payment,
            kind="recurring_resumed",
            title="The recurring charge resumed: this period is paid",
            detail="A decline of this period had stopped it; the gateway "
            "then reported this payment paid.",
        )
    period_paid(payment, restarted_since=resumed is None)


def recurring_refund_unpaid(
    payment: Payment, amount: int | None, reference: str
) -> bool:
    """A refund the gateway reports for a recurring period's failed try: it
    never stands in for a capture (the period does not count as paid, so no
    slot taken back, no stop undone); the try stays failed and the refund is
    noted for staff, once per reference. False if ``payment`` is not such a
    try (any other payment's refund implies its late capture)."""
    with transaction.atomic():
        row = lock_payment(payment.pk)
        if row.status != PaymentStatus.FAILED or not recurring_id(row):
            return False
        said = money.format_amount(amount, row.currency) if amount else "an amount"
        title = f"The gateway reported a refund ({reference or 'no reference'})"
        title = title[:255]
        if row.notes.filter(kind="recurring_refund_unpaid", title=title).exists():
            return True
        logger.warning("refund reported for a failed recurring try", extra=log_ids(row))
        PaymentNote.objects.create(
            payment=row,
            kind="recurring_refund_unpaid",
            title=title,
            detail=f"A refund of {said} was reported for this failed try; no "
            "capture was: its period does not count as paid. Check the charge "
            "at the gateway.",
        )
    return True
