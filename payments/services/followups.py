"""Capture and void: follow-up operations at the account that holds the
payment (staff's review decisions on them: ``payments.services.review``)."""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet, Subquery
from django.db.models.functions import Now
from django.utils import timezone

from integrations.clock import stamp
from integrations.commits import commit_group, group_commit, group_join
from integrations.errors import NotProcessed, ProviderError, Rejected
from integrations.models.attempts import AttemptOutcome
from integrations.reruns import (
    DeadIntent,
    dead_run_intended,
    record_intent,
    rerun_since,
    stamped,
)
from payments.models import (
    Payment,
    PaymentAttempt,
    PaymentNote,
    PaymentStatus,
    ReviewReason,
    ReviewState,
)
from payments.providers.base import (
    CaptureRequest,
    PaymentResult,
    PaymentsAdapter,
    ProviderStatus,
)
from payments.services.attempts import adapter_for, attempted
from payments.services.errors import (
    LEFT_TO_STAFF,
    STAFF_REVIEW,
    AmountExceedsCapturable,
    AuthorizationPending,
    FollowUpInProgress,
    GatewayRejected,
    GatewayUnavailable,
    InvalidState,
    OutcomePending,
    PaymentError,
    UnderReview,
)
from payments.services.messages import (
    provider_code_of,
    provider_text_keep,
    public_message,
)
from payments.services.state import (
    Change,
    advance,
    change_from_result,
    log_ids,
    mark_unknown,
)

# One logger for the whole package, named as before the split, so log
# records and logging configuration keep addressing it.
logger = logging.getLogger("payments.services")

T = TypeVar("T")


def follow_up(
    payment: Payment,
    operation: str,
    call: Callable[[PaymentsAdapter, str], T],
    *,
    at: datetime | None = None,
) -> T:
    """One follow-up operation at the account that holds the payment;
    ``at``: the instant its attempt is stored with (the one its intent names)."""
    if payment.account is None or not payment.provider_reference:
        raise InvalidState("The payment has no gateway charge to act on.")
    adapter = adapter_for(payment.account)
    try:
        return attempted(
            payment, adapter, operation, lambda key: call(adapter, key), at=at
        )
    except Rejected as exc:
        provider_text_keep(payment, exc, operation)
        raise GatewayRejected(
            public_message(exc.code), code=exc.code, provider_code=provider_code_of(exc)
        ) from exc
    except NotProcessed as exc:
        raise GatewayUnavailable(
            "The payment gateway could not be reached; nothing was done."
        ) from exc


def payment_capture(
    *,
    payment: Payment,
    amount: int | None = None,
    actor: str = "",
    storefront: bool = False,
) -> Payment:
    """Capture an authorized payment, all of it or ``amount`` (partial).
    ``storefront``: the shop's request, refused while a fraud review holds
    the payment (staff's approve captures it when the create asked for a
    capture), answered with the payment once that approval captured it."""
    return one_at_a_time(payment, lambda row: _capture(row, amount, actor, storefront))


def capture_locked(payment: Payment, *, actor: str) -> Payment:
    """Staff's capture in full of a payment whose row the caller locked
    (``one_at_a_time``): a review's approve decides and captures under one
    lock."""
    return _capture(payment, None, actor, False)


def _capture(
    payment: Payment, amount: int | None, actor: str, storefront: bool
) -> Payment:
    if payment.status == PaymentStatus.AUTHORIZED and storefront:
        _refuse_while_held(payment)
    if payment.status != PaymentStatus.AUTHORIZED:
        if storefront and _captured_by_approval(payment, amount):
            return payment
        if _captured_by_its_dead_run(payment, amount):
            return payment
        if _left_unknown_by_its_dead_run(payment, "capture", amount):
            return payment
        _refuse_while_unknown(payment, "capture")
        _refuse_until_authorized(payment, "capture", _NOT_YET_CAPTURABLE)
        raise InvalidState(f"A {payment.status} payment cannot be captured.")
    remaining = payment.amount_authorized - payment.amount_captured
    amount = remaining if amount is None else amount
    if amount <= 0 or amount > remaining:
        raise AmountExceedsCapturable(
            f"At most {remaining} can be captured.", param="amount"
        )
    at = _set_out_to(payment, "capture", amount)

    def call(adapter: PaymentsAdapter, key: str) -> PaymentResult:
        return adapter.capture(
            CaptureRequest(
                provider_reference=payment.provider_reference,
                amount=amount,
                currency=payment.currency,
                idempotency_key=key,
            )
        )

    try:
        result = follow_up(payment, "capture", call, at=at)
    except ProviderError:
        logger.warning("payment capture outcome unknown", extra=log_ids(payment))
        return mark_unknown(payment)
    logger.info("payment captured", extra={**log_ids(payment), "actor": actor})
    return advance(payment, change_from_result(result))


def payment_void(
    *, payment: Payment, actor: str = "", storefront: bool = False
) -> Payment:
    """Release an authorization (or abandon a 3-D Secure payment).
    ``storefront``: the shop's request; a fraud hold it voids leaves the
    review queue, resolved (staff's void leaves it for their reject)."""
    return one_at_a_time(payment, lambda row: _void(row, actor, storefront))


def fraud_held(payment: Payment) -> bool:
    """Held for fraud review: the storefront cannot capture it until staff
    approve it."""
    return (
        payment.review_state == ReviewState.PENDING
        and payment.review_reason == ReviewReason.FRAUD
    )


def _refuse_while_held(payment: Payment) -> None:
    # Not the key's answer (an *_in_progress code): staff may approve it.
    if not fraud_held(payment):
        return
    if payment.capture_requested:
        raise UnderReview(
            "The payment is held for fraud review; staff capture it if they "
            "approve it. Retry the capture later, or void the payment."
        )
    raise UnderReview(
        "The payment is held for fraud review; it can be captured once staff "
        "approve it. Retry the capture later, or void the payment."
    )


def _captured_by_approval(payment: Payment, amount: int | None) -> bool:
    """A fraud hold whose create asked for a capture, captured in full (staff's
    approval; their capture from the payment page or the gateway's, approved
    or still waiting for staff to see it): the storefront's capture, refused
    while it was held, is done. Answered with the payment, never a second
    gateway call; another amount is not the capture made."""
    captured = payment.amount_captured
    done = (
        payment.status in CAPTURED_STATUSES
        and payment.capture_requested
        and payment.review_reason == ReviewReason.FRAUD
        and payment.review_state in (ReviewState.APPROVED, ReviewState.PENDING)
        and captured == payment.amount_authorized
        and amount in (None, captured)
    )
    if done:
        logger.info(
            "payment capture answered: staff approved it", extra=log_ids(payment)
        )
    return done


# The timeline note of a storefront void of a fraud hold whose answer was lost.
_VOID_LOST = "storefront_void_lost"


def _hold_resolved(payment: Payment) -> Payment:
    """The storefront voided a fraud hold: no money is held, nothing is left
    for staff to judge. Closed as resolved, on the timeline, in the void's
    commit (the row is still locked: ``one_at_a_time``)."""
    PaymentNote.objects.create(
        payment=payment,
        kind="review_closed",
        title="Fraud review closed: the storefront voided the payment",
        detail="The hold was released; no money is held, nothing to review.",
    )
    logger.info("payment fraud hold resolved by a void", extra=log_ids(payment))
    return advance(payment, Change(fields={"review_state": ReviewState.RESOLVED}))


def storefront_void_done(payment: Payment) -> Payment:
    """A fraud hold the storefront set out to void, its answer lost (noted on
    the timeline), found voided by whatever route (reconciliation, the
    gateway's webhook, settled by hand): its review closes as resolved."""
    if payment.status != PaymentStatus.VOIDED or not fraud_held(payment):
        return payment
    if not payment.notes.filter(kind=_VOID_LOST).exists():
        return payment
    return _hold_resolved(payment)


def _void_lost_noted(payment: Payment) -> None:
    PaymentNote.objects.create(
        payment=payment,
        kind=_VOID_LOST,
        title="The storefront's void of this fraud hold: answer lost",
        detail="Reconciling; once voided, the review closes as resolved.",
    )


def _void(payment: Payment, actor: str, storefront: bool) -> Payment:
    if payment.status not in (PaymentStatus.AUTHORIZED, PaymentStatus.REQUIRES_ACTION):
        if payment.status == PaymentStatus.VOIDED and _done_by_its_dead_run(
            payment, "void"
        ):
            # Its re-run: the void it set out to do is done, however.
            held = storefront and fraud_held(payment)
            return _hold_resolved(payment) if held else payment
        if _left_unknown_by_its_dead_run(payment, "void"):
            return payment
        _refuse_while_unknown(payment, "void")
        _refuse_until_authorized(payment, "void", (PaymentStatus.PENDING,))
        raise InvalidState(f"A {payment.status} payment cannot be voided.")
    at = _set_out_to(payment, "void")
    owed = _capture_no_longer_owed(payment)

    def call(adapter: PaymentsAdapter, key: str) -> PaymentResult:
        return adapter.void(
            provider_reference=payment.provider_reference, idempotency_key=key
        )

    try:
        result = follow_up(payment, "void", call, at=at)
    except (GatewayUnavailable, InvalidState):
        # Certainly nothing done at the gateway: the order was not cancelled.
        _capture_owed_again(payment, owed)
        raise
    except GatewayRejected:
        # A retried void the provider refuses because it is already done;
        # what came before is made durable first: another gateway call.
        group_commit()
        result = _already_voided(payment)
        if result is None:
            raise
    except ProviderError:
        logger.warning("payment void outcome unknown", extra=log_ids(payment))
        if storefront and fraud_held(payment):
            _void_lost_noted(payment)
        return mark_unknown(payment)
    logger.info("payment voided", extra={**log_ids(payment), "actor": actor})
    row = advance(payment, change_from_result(result))
    if storefront and fraud_held(row) and row.status == PaymentStatus.VOIDED:
        row = _hold_resolved(row)
    return row


def _capture_no_longer_owed(payment: Payment) -> bool:
    """A void that may reach the gateway cancels the capture the create still
    owed (Square's second call): whatever its answer (lost, refused),
    reconciliation must never send it. Cleared in the commit that stores the
    void's attempt (the row is locked, ``one_at_a_time``); ``updated_at`` is
    left alone. Returns whether it was owed."""
    owed = payment.capture_requested
    if owed:
        Payment.objects.filter(pk=payment.pk).update(capture_requested=False)
        payment.capture_requested = False
    return owed


def _capture_owed_again(payment: Payment, owed: bool) -> None:
    """A void the gateway certainly did not process (``not_processed``: not
    reached) cancelled nothing: the capture stays owed, restored in the commit
    of the void attempt's result (``owes_capture`` ignores that attempt)."""
    if owed:
        group_join()
        Payment.objects.filter(pk=payment.pk).update(capture_requested=True)
        payment.capture_requested = True


def _refuse_while_unknown(payment: Payment, operation: str) -> None:
    """An ``unknown`` payment waits for reconciliation to settle it: the
    refusal holds only until then (not stored as a key's answer), so the
    same key asked again gets the answer for the settled payment."""
    if payment.status != PaymentStatus.UNKNOWN:
        return
    if _acknowledged_by_staff(payment):
        raise InvalidState(
            "The payment's outcome could not be settled automatically; staff "
            "checked it at the gateway and settle it there. The "
            f"{operation} was not sent; read the payment for its status.",
            code=LEFT_TO_STAFF,
        )
    if _left_to_staff(payment):
        raise OutcomePending(
            "The payment's outcome could not be settled automatically; staff "
            f"are checking it at the gateway. Retry the {operation} later.",
            code=STAFF_REVIEW,
        )
    raise OutcomePending(
        f"The payment's outcome is being reconciled; retry the {operation} later."
    )


def _acknowledged_by_staff(payment: Payment) -> bool:
    """Reconciliation could not settle it and staff acknowledged it in review:
    "staff are checking it, retry" would be untrue for ever. Final for the
    key (stored); a new key may ask once the payment shows a settled status.
    (A later unknown outcome sets ``failure_code`` to ``outcome_unknown``.)"""
    return (
        payment.failure_code == "reconcile_manually"
        and payment.review_state == ReviewState.APPROVED
    )


def _left_to_staff(payment: Payment) -> bool:
    """Reconciliation could not settle it (the gateway cannot tell which
    charge is its own), or it stayed open past the review hours."""
    return payment.failure_code == "reconcile_manually" or (
        payment.review_state == ReviewState.PENDING
        and payment.review_reason == ReviewReason.UNRESOLVED
    )


# Not authorized yet: the create's answer, or the customer's 3-D Secure.
_NOT_YET_CAPTURABLE = (PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION)


def _refuse_until_authorized(
    payment: Payment, operation: str, waiting: tuple[str, ...]
) -> None:
    """A payment on its way to an authorization: refused only until it gets
    there (not stored as a key's answer), so the same key may ask again."""
    if payment.status in waiting:
        raise AuthorizationPending(
            f"The payment is {payment.status}, not authorized yet; retry the "
            f"{operation} once it is."
        )


def one_at_a_time(payment: Payment, run: Callable[[Payment], Payment]) -> Payment:
    """``run`` on the payment as it now is, its row locked from that read
    until its attempt commits, just before the gateway call (with the
    request's intent when it notes one, ``integrations.commits``): a
    concurrent capture or void, from the API, staff or a task, waits, then
    finds the attempt under way. The writes after the call share the next
    commit; a refusal (PaymentError) is raised once they are committed."""
    refused: PaymentError | None = None
    with commit_group():
        group_join()
        try:
            return run(_locked(payment))
        except PaymentError as exc:
            refused = exc
    assert refused is not None
    raise refused


def _locked(payment: Payment) -> Payment:
    # The read the service makes anyway, taken FOR UPDATE (the payment's
    # row only, not its account's).
    rows = (
        type(payment).objects.select_for_update(of=("self",)).select_related("account")
    )
    return rows.get(pk=payment.pk)


def _intent(payment: Payment, operation: str, amount: int | None = None) -> str:
    # What a request sets out to do; noted ``stamped`` with its attempt's
    # instant (integrations.reruns), which names that attempt.
    suffix = "" if amount is None else f":{amount}"
    return f"payment.{operation}:{payment.public_id}{suffix}"


def _set_out_to(
    payment: Payment, operation: str, amount: int | None = None
) -> datetime:
    """Note this request's intent on its idempotency record before the
    gateway call (integrations.reruns), naming the attempt it is about to
    make by its instant (returned: the attempt is stored with it), so its
    re-run is answered with the payment however the gateway's answer reached
    it (outside an API request nothing is noted). Every capture or void
    (the API's, staff's, the create's own) is refused while another's is
    unfinished: it would ride on that attempt's gateway key and be answered
    with a call it did not make (or call the gateway to be refused). A re-run
    is refused the same way, but for its own dead run's attempts. The check
    holds because the payment's row is locked until the attempt commits
    (``one_at_a_time``)."""
    intent = _intent(payment, operation, amount)
    # ``at``: the database's time, read once the lock is held (any wait for
    # it behind): the attempt is stored with it, judged by it elsewhere.
    busy, at = _under_way(payment, after=_own_attempt(payment, operation, intent))
    if busy is not None:
        raise FollowUpInProgress(
            f"A {busy} of this payment is already under way; retry later.",
            code=f"{busy}_in_progress",
        )
    record_intent(stamped(intent, at))
    return at


def _own_attempt(payment: Payment, operation: str, intent: str) -> int | None:
    """The attempt this request's dead run made (the one its intent names),
    if this request re-runs one that set out to do ``intent``. The attempts
    before it were checked by that run under the lock, so only those after
    it can be another request's; without one, every attempt counts (a dead
    run of the previous release named none: its retry waits out its own)."""
    dead = dead_run_intended(intent)
    if dead is None or dead.at is None:
        return None
    return (
        PaymentAttempt.objects.filter(
            payment=payment, operation=operation, created_at=dead.at
        )
        .values_list("pk", flat=True)
        .first()
    )


def follow_up_under_way(payment: Payment) -> str | None:
    """``capture`` or ``void`` when one is under way (read with the payment's
    row locked: the lock capture and void take before their attempt)."""
    return _under_way(payment)[0]


# Follow-ups that hold the payment's authorization; one refuses the other.
_FOLLOW_UPS = ("capture", "void")


def _under_way(
    payment: Payment, *, after: int | None = None
) -> tuple[str | None, datetime]:
    """The operation of another request's capture or void not yet on the
    payment (``after``: attempts after that one only): still at the gateway,
    or done there by a worker that died before recording it (the webhook or
    that request's retry will). One older than a dead worker's record is let
    go: the gateway key answers from it. With the database's time at this
    read (this machine's on SQLite), in the same statement."""
    # By the database's clock, as attempts are stamped (payments.services.
    # attempts): a machine ahead would let a capture in flight go.
    since = stamp() - timedelta(seconds=settings.IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS)
    attempts = PaymentAttempt.objects.filter(
        payment=payment,
        operation__in=_FOLLOW_UPS,
        outcome__in=(AttemptOutcome.IN_PROGRESS, AttemptOutcome.SUCCEEDED),
        created_at__gte=since,
    )
    if after is not None:
        attempts = attempts.filter(pk__gt=after)
    if connection.vendor != "postgresql":
        return attempts.values_list("operation", flat=True).first(), timezone.now()
    first = attempts.order_by("pk").values("operation")[:1]
    busy, now = (
        Payment.objects.filter(pk=payment.pk).values_list(Subquery(first), Now()).get()
    )
    return busy, now


# A capture stays done when refunds follow it.
CAPTURED_STATUSES = (
    PaymentStatus.CAPTURED,
    PaymentStatus.PARTIALLY_REFUNDED,
    PaymentStatus.REFUNDED,
)


def _captured_by_its_dead_run(payment: Payment, amount: int | None) -> bool:
    captured = payment.amount_captured
    return (
        payment.status in CAPTURED_STATUSES
        and (amount is None or amount == captured)
        and _done_by_its_dead_run(payment, "capture", captured)
    )


def _done_by_its_dead_run(
    payment: Payment, operation: str, amount: int | None = None
) -> bool:
    """Whether this request re-runs one whose worker died after setting out
    to do ``operation`` (of ``amount``), now done: its own idempotency record
    says so (noted before the gateway call), never another request's. Its
    answer is the payment as it now stands, by whatever route it got there
    (the dead run, the gateway's webhook, reconciliation); any other request
    is refused."""
    done = dead_run_intended(_intent(payment, operation, amount)) is not None
    if done:
        logger.info(
            "payment follow-up answered for a re-run request",
            extra={**log_ids(payment), "operation": f"payment.{operation}"},
        )
    return done


def _left_unknown_by_its_dead_run(
    payment: Payment, operation: str, amount: int | None = None
) -> bool:
    """Whether this request re-runs one whose gateway call of ``operation``
    ended unknown, the payment still ``unknown``: answered as that run was
    (202; reconciliation settles it), never with a second call while the
    first one's outcome is open. However many of its re-runs died since."""
    if payment.status != PaymentStatus.UNKNOWN:
        return False
    if operation == "capture" and amount is None:
        amount = payment.amount_authorized - payment.amount_captured
    dead = dead_run_intended(_intent(payment, operation, amount))
    if dead is None:
        return False
    # Its own call (the one its intent names), not another request's.
    unknown = _its_attempts(payment, operation, dead).filter(
        outcome=AttemptOutcome.UNKNOWN
    )
    return unknown.exists() and _done_by_its_dead_run(payment, operation, amount)


def _its_attempts(payment: Payment, operation: str, dead: DeadIntent) -> QuerySet:
    attempts = PaymentAttempt.objects.filter(payment=payment, operation=operation)
    if dead.at is not None:
        return attempts.filter(created_at=dead.at)
    # Noted by the previous release, naming no attempt: one made since the
    # dead run began (as that release read it: the last run that died).
    return attempts.filter(created_at__gte=rerun_since())


def _already_voided(payment: Payment) -> PaymentResult | None:
    """The provider's record when it says the payment is voided already."""
    assert payment.account is not None
    try:
        found = adapter_for(payment.account).retrieve(
            provider_reference=payment.provider_reference
        )
    except ProviderError:
        return None
    if found is None or found.status != ProviderStatus.VOIDED:
        return None
    logger.info("payment was already voided at the gateway", extra=log_ids(payment))
    return found
