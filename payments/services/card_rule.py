"""The saved card's hard-decline rule: a final decline of the card (lost or
stolen, closed, the issuer's "do not try again", the cardholder's stop of
payments to us) holds every charge of it, whichever charge learnt it, until
the issuer approves one made since. Read by what charges a card or decides
to (a new recurring charge, a resume, a move, the run, a one-off charge).

Its reads are bounded (``payment_card_final_decline`` and
``payment_card_approval``, partial indexes): the card's final declines, then
only approvals made after the newest of them; never every charge of a busy
card once per due charge of the run."""

from datetime import datetime

from django.db.models import Q, QuerySet

from payments.models import (
    MONEY_HOLDING_STATUSES,
    Payment,
    PaymentStatus,
    SavedPaymentMethod,
)
from payments.providers.base import (
    DECLINE_CODES,
    FINAL_ADVICE,
    HARD_DECLINES,
    STOP_PAYMENT,
)
from payments.services.reconcile import RECURRING_KEY_PREFIX
from payments.services.slots import LEARNT

# What the rule reads first: the predicate of the partial index
# ``payment_card_final_decline``. No status in it: a filter on status lets
# the planner take the status index (few failed rows in its statistics)
# rather than the card's; the few rows read are judged here.
FINAL_WORD = Q(failure_code__in=HARD_DECLINES) | Q(failure_advice_code__in=FINAL_ADVICE)
APPROVED = Q(status__in=MONEY_HOLDING_STATUSES)
# Our code for a charge the rule refused unsent (a one-off's failure, the
# recurring API's MethodDeclined).
DECLINED_FOR_GOOD = "payment_method_declined"


def hard_declined(method: SavedPaymentMethod) -> bool:
    """Whether a final decline of ``method`` is in force (any charge's: a
    run's, a one-off): a card lost once stays lost, whichever charge learnt
    it, until the issuer approves a charge made after it was learnt. By when
    each word was learnt (``LEARNT``), not by the charges' age: a decline
    learnt late on an older charge is the newer word. An approval counts
    from its charge's creation (given no earlier; found late, perhaps given
    before the decline was learnt). A stop of recurring payments is mended
    only by a recurring charge's approval: a one-off's says nothing of it."""
    return final_decline_in_force(method) is not None


def final_decline_in_force(method: SavedPaymentMethod) -> Payment | None:
    """The card's latest decline in force by ``hard_declined``'s rule, or
    None: what holds a charge of the card rather than send one more certain
    decline (the run stops a recurring charge for it, recurring.py; a
    one-off charge is refused, methods.py). A card never declined for good:
    one read of none of its rows."""
    declines = _final_declines(method)
    if not declines:
        return None
    approvals = Payment.objects.filter(APPROVED, saved_method=method)
    if not _approved_after(approvals, declines[0].learnt):
        return declines[0]
    stop = next((d for d in declines if d.failure_code == STOP_PAYMENT), None)
    if stop is None:
        return None
    recurring = approvals.filter(idempotency_key__startswith=RECURRING_KEY_PREFIX)
    return None if _approved_after(recurring, stop.learnt) else stop


def _final_declines(method: SavedPaymentMethod) -> list[Payment]:
    """The card's final declines, the latest learnt first."""
    found = Payment.objects.filter(FINAL_WORD, saved_method=method)
    declines = [
        payment
        for payment in found.annotate(learnt=LEARNT).order_by()
        if payment.status == PaymentStatus.FAILED
        and payment.failure_code in DECLINE_CODES
    ]
    return sorted(declines, key=lambda d: (d.learnt, d.pk), reverse=True)


def _approved_after(approvals: QuerySet[Payment], learnt: datetime) -> bool:
    # The approvals index's range: only charges made after the decline.
    return approvals.filter(created_at__gt=learnt).exists()


def final_decline(payment: Payment) -> bool:
    """Whether ``payment``'s decline is final for its card: a hard code, or
    the gateway's advice not to try again."""
    return (
        payment.failure_code in HARD_DECLINES
        or payment.failure_advice_code in FINAL_ADVICE
    )
