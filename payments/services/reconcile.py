"""Reconciliation: ask the gateway what became of a payment whose outcome is
open, by its reference or the create's idempotency key."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef

from integrations.clock import database_now, stamp
from integrations.errors import ProviderError, Rejected, Unknown
from integrations.models import ProviderAccount
from payments.models import (
    MONEY_HOLDING_STATUSES,
    NOTHING_TO_REVIEW,
    Payment,
    PaymentAttempt,
    PaymentNote,
    PaymentStatus,
    RefundStatus,
    ReviewReason,
    ReviewState,
)
from payments.providers.base import (
    PaymentLookup,
    PaymentResult,
    PaymentsAdapter,
    ProviderStatus,
)
from payments.services.attempts import adapter_for, provider_key
from payments.services.create import (
    authorize_at,
    build_payment_request,
    capture_owed,
    owes_capture,
    record_authorized,
    voids_sent,
)
from payments.services.errors import PaymentError
from payments.services.followups import storefront_void_done
from payments.services.messages import late_decline_keep
from payments.services.refunds import refund_send
from payments.services.state import (
    Change,
    advance,
    change_from_result,
    lock_payment,
    log_ids,
    mark_failed,
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
    # Stamped first: a look that fails still moves it behind the others.
    # The database's time: the sweep orders by it, whichever machine asked.
    Payment.objects.filter(pk=payment.pk).update(reconcile_checked_at=stamp())
    payment.refresh_from_db()
    if payment.status in _RECONCILABLE and payment.account is None:
        payment = _account_from_attempt(payment)
    if payment.status in _RECONCILABLE and payment.account is not None:
        payment = _reconcile_charge(payment)
    if owes_capture(payment):
        payment = capture_owed(payment)
    for refund in payment.refunds.filter(status=RefundStatus.UNKNOWN):
        try:
            refund_send(refund)
        except PaymentError:
            logger.warning("refund reconciliation failed", extra=log_ids(payment))
    payment.refresh_from_db()
    return _alert_if_stuck(payment)


def _recurring_settled(payment: Payment) -> None:
    """A recurring slot's payment ended failed: the recurring run's rule, in
    the caller's transaction (``recurring.recurring_payment_failed``); ended
    holding money: its period may be charged twice (``slots.period_charged``)."""
    # Imported here: the recurring charges' modules import this one.
    from payments.services.recurring import recurring_payment_failed
    from payments.services.slots import period_charged

    if payment.status == PaymentStatus.FAILED:
        recurring_payment_failed(payment)
    elif payment.status in MONEY_HOLDING_STATUSES:
        period_charged(payment)


def _failed_end(payment: Payment, change: Change) -> Payment:
    # One transaction: a kill between the two writes would lose the period.
    with transaction.atomic():
        row = advance(payment, change)
        _recurring_settled(row)
    return row


def _account_from_attempt(payment: Payment) -> Payment:
    """The account of the last create attempt, for a payment whose process
    died after that attempt's key was committed and before its result was:
    only that account may hold the charge (earlier ones did nothing)."""
    attempt = (
        PaymentAttempt.objects.filter(payment=payment, operation="authorize")
        .order_by("-pk")
        .first()
    )
    if attempt is None:
        return payment
    Payment.objects.filter(pk=payment.pk, account__isnull=True).update(
        account=attempt.account_id
    )
    logger.warning("payment left mid-create; reconciling", extra=log_ids(payment))
    payment.refresh_from_db()
    return payment


def _alert_if_stuck(payment: Payment) -> Payment:
    """An unknown payment always reaches an end or staff: past
    ``PAYMENTS_UNKNOWN_REVIEW_HOURS`` it goes to the review queue."""
    if payment.status != PaymentStatus.UNKNOWN:
        return payment
    hours = settings.PAYMENTS_UNKNOWN_REVIEW_HOURS
    # Aged by the database's clock, as a payment is inserted (payment_insert): a
    # worker whose clock is off sends it to review neither early nor late.
    if database_now() - payment.created_at <= timedelta(hours=hours):
        return payment
    fields = _review_fields(payment)
    if not fields:
        return payment
    logger.error("payment outcome still unknown; in review", extra=log_ids(payment))
    return advance(payment, Change(fields=fields))


def lookup_may_lag(payment: Payment, adapter: PaymentsAdapter) -> bool:
    """A miss by key too soon after the create may be the provider's search
    index lagging, not proof that nothing was charged."""
    if payment.provider_reference or not adapter.lookup_lag_seconds:
        return False
    # The database's clock, as the charge's created_at (payment_insert): a worker
    # ahead would fail it before the lag had passed, one behind never.
    age = database_now() - payment.created_at
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
    adapter = adapter_for(account)
    key = provider_key(payment, account, "authorize")
    try:
        try:
            result = charge_lookup(payment, adapter)
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
            extra={**log_ids(payment), "error_code": exc.code},
        )
        return payment
    return _settle_lookup(payment, adapter, result)


def charge_lookup(
    payment: Payment, adapter: PaymentsAdapter, *, reference: str = ""
) -> PaymentResult | None:
    """The gateway's record of the create (None: it has none), by
    ``reference`` (staff's, settling it by hand), else the payment's own
    reference or the create's key."""
    key = provider_key(payment, adapter.account, "authorize")
    reference = (
        reference
        or payment.provider_reference
        or _reference_sent(payment, adapter.account)
    )
    lookup = PaymentLookup(
        order_id=payment.order_id,
        amount=payment.amount,
        currency=payment.currency,
        since=payment.created_at - timedelta(minutes=10),
    )
    return adapter.retrieve(
        provider_reference=reference, idempotency_key=key, lookup=lookup
    )


def _settle_lookup(
    payment: Payment, adapter: PaymentsAdapter, result: PaymentResult | None
) -> Payment:
    """Settle ``payment`` from what the gateway's look-up answered."""
    if result is None and lookup_may_lag(payment, adapter):
        logger.info("payment not found at the gateway yet", extra=log_ids(payment))
        reconciliation_schedule(payment=payment)
        return payment
    if result is None:
        logger.info("payment not found at the gateway; failed", extra=log_ids(payment))
        return _failed_end(
            payment,
            Change(
                status=PaymentStatus.FAILED,
                fields={
                    "failure_code": "not_found_at_provider",
                    "failure_message": "The gateway has no record of the charge.",
                },
            ),
        )
    owner = _charge_owner(payment, adapter.account, result.provider_reference)
    if owner is not None and payment.provider_reference == result.provider_reference:
        # Its own reference is another payment's charge: never a second one.
        return _end_as_duplicate(payment, owner)
    if owner is not None:
        # Found by a search, but it is another payment's charge; its own may
        # not be indexed yet.
        return _reconcile_manually(payment)
    resent = _resend_create(payment, adapter, result)
    if resent is not None:
        return resent
    logger.info(
        "payment reconciled",
        extra={**log_ids(payment), "provider_status": result.status},
    )
    try:
        with transaction.atomic():
            before = lock_payment(payment.pk).status
            row = advance(payment, change_from_result(result))
            if before != PaymentStatus.FAILED and row.status == PaymentStatus.FAILED:
                late_decline_keep(row, result.decline, "look-up")
            _recurring_settled(row)
            return storefront_void_done(row)
    except IntegrityError:
        # Another payment took the charge meanwhile (the database's word).
        owner = _charge_owner(payment, adapter.account, result.provider_reference)
        return _end_as_duplicate(payment, owner) if owner else payment


def _charge_owner(
    payment: Payment, account: ProviderAccount, reference: str
) -> Payment | None:
    """The other payment that holds the charge ``reference`` at ``account``."""
    if not reference:
        return None
    return (
        Payment.objects.filter(
            account=account,
            provider_reference=reference,
            status__in=MONEY_HOLDING_STATUSES,
        )
        .exclude(pk=payment.pk)
        .first()
    )


def _end_as_duplicate(payment: Payment, owner: Payment) -> Payment:
    """Ended: the charge it tried is ``owner``'s. Failed, and in review so
    staff can tell the storefront which payment holds the money."""
    logger.error(
        "payment's charge belongs to another payment; ended as a duplicate",
        extra={**log_ids(payment), "owner_id": owner.public_id},
    )
    PaymentNote.objects.create(
        payment=payment,
        kind="duplicate",
        title=f"Charge held by {owner.public_id}",
        detail="The gateway's charge for this payment belongs to another "
        "payment of the same order; this one charged nothing.",
    )
    return advance(
        payment,
        Change(
            status=PaymentStatus.FAILED,
            fields={
                "failure_code": "duplicate_charge",
                "failure_message": "The charge belongs to another payment.",
                "review_state": ReviewState.PENDING,
                "review_reason": ReviewReason.DUPLICATE_CHARGE,
            },
        ),
    )


def _resend_create(
    payment: Payment, adapter: PaymentsAdapter, found: PaymentResult
) -> Payment | None:
    """An unknown create the provider never performed (its source is still
    waiting, e.g. PayPal's order still approved): sent again under the same
    idempotency key, which the provider replays if it did perform it; a
    refusal (the order can no longer be captured) fails the payment."""
    waiting = (ProviderStatus.PENDING, ProviderStatus.REQUIRES_ACTION)
    if payment.status != PaymentStatus.UNKNOWN or found.status not in waiting:
        return None
    source = adapter.source_from_reference(payment.provider_reference)
    if not source:
        return None
    capture = payment.capture_requested and payment.review_state == ReviewState.NONE
    request = build_payment_request(payment, source, capture=capture)
    try:
        result = authorize_at(payment, request, adapter)
    except Rejected as exc:
        with transaction.atomic():
            row = mark_failed(payment, exc)
            _recurring_settled(row)
        return row
    except ProviderError:
        reconciliation_schedule(payment=payment)
        return payment
    logger.info("payment create re-sent by reconciliation", extra=log_ids(payment))
    with transaction.atomic():
        row = record_authorized(payment, result, adapter.account)
        _recurring_settled(row)
    return row


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
        logger.info(
            "payment cancelled by idempotency key; failed", extra=log_ids(payment)
        )
        return _failed_end(
            payment,
            Change(
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
    """Stays ``unknown`` (never guessed failed), in review for staff."""
    logger.error("payment cannot be reconciled automatically", extra=log_ids(payment))
    return advance(
        payment,
        Change(
            fields={
                "failure_code": "reconcile_manually",
                "failure_message": "The gateway cannot tell which charge is "
                "this payment's; check it in the gateway's dashboard.",
                **_review_fields(payment),
            }
        ),
    )


def _review_fields(payment: Payment) -> dict[str, str]:
    if payment.review_state == ReviewState.PENDING:
        return {}
    return {
        "review_state": ReviewState.PENDING,
        "review_reason": ReviewReason.UNRESOLVED,
    }


def payments_reconcile_pending(*, now: datetime | None = None) -> list[Payment]:
    """Reconcile every payment whose outcome is open: ``unknown`` ones, and
    ``pending`` or ``requires_action`` ones — or authorizations still owing
    their capture — older than ``PAYMENTS_RECONCILE_AFTER_MINUTES``. Returns
    those whose status changed."""
    # The database's time; and a payment must be that old by its created_at
    # too (the database's time, state.payment_insert), not only by its
    # updated_at: a charge in flight is not taken for one left open.
    now = now or database_now()
    stale = now - timedelta(minutes=settings.PAYMENTS_RECONCILE_AFTER_MINUTES)
    candidates = (
        Payment.objects.filter(status=PaymentStatus.UNKNOWN)
        | Payment.objects.filter(
            status__in=[PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION],
            updated_at__lte=stale,
            created_at__lte=stale,
        )
        # A capture owed after a separate authorization (Square) whose process
        # died between the two calls: nothing else would ever send it.
        # Not one a void may have cancelled (``owes_capture`` refuses it: a
        # previous release's void left ``capture_requested`` set).
        | Payment.objects.filter(
            ~Exists(voids_sent().filter(payment=OuterRef("pk"))),
            status=PaymentStatus.AUTHORIZED,
            capture_requested=True,
            review_state__in=NOTHING_TO_REVIEW,
            amount_captured=0,
            updated_at__lte=stale,
        )
    )
    settled = _unsent_end(stale)
    # No account yet: a create whose process died before its result was
    # committed; its attempt names the account (_account_from_attempt).
    askable = candidates.exclude(account__isnull=True) | candidates.filter(
        account__isnull=True, attempts__isnull=False
    )
    # Least recently asked first (never asked: first of all): payments the
    # gateway cannot settle yet take their turn, never every batch.
    order = (F("reconcile_checked_at").asc(nulls_first=True), "pk")
    for payment in askable.distinct().order_by(*order)[
        : settings.PAYMENTS_RECONCILE_BATCH
    ]:
        before = payment.status
        after = payment_reconcile(payment=payment)
        if after.status != before:
            settled.append(after)
    return settled


# The gateway refused a charge as a duplicate of one it holds (Braintree's
# duplicate check); reconciliation's "the charge is another payment's".
# Neither is the card's decline.
DUPLICATE_CODES = frozenset({"duplicate_transaction", "duplicate_charge"})


def duplicate_look_up(payment: Payment) -> Payment:
    """A saved method's charge refused as a duplicate: the gateway may hold
    this order's charge already (an earlier try of a recurring slot, or of a
    one-off order whose outcome was lost). Unknown, and asked at once by
    reconciliation, which books the charge it finds under the order id, or
    leaves it unknown (a search that may lag, a charge owned by another
    payment: in review) for the next look; never failed with money taken."""
    logger.warning(
        "saved-method charge refused as a duplicate; looking it up",
        extra={"payment_id": payment.public_id},
    )
    payment = advance(
        payment,
        Change(
            status=PaymentStatus.UNKNOWN,
            fields={
                "failure_code": "duplicate_at_gateway",
                "failure_message": "The gateway holds a charge like this one "
                "already; reconciling.",
            },
        ),
    )
    return payment_reconcile(payment=payment)


# A recurring slot's payment key; such payments' orphans are the recurring
# run's (``recurring._recurring_orphans_release``): it gives their slot back.
RECURRING_KEY_PREFIX = "recurring:"


def _unsent_end(stale: datetime) -> list[Payment]:
    """Payments no gateway was ever asked about, that nothing would ever send
    or end: a process killed between the payment's row and its attempt's
    (SIGKILL, a worker's timeout) left them ``pending``, holding their key.
    Failed ``not_sent`` (key freed, so the caller's retry charges) once
    older than ``stale``, far beyond a request's or a task's life."""
    unsent = ~Exists(PaymentAttempt.objects.filter(payment=OuterRef("pk")))
    orphans = (
        Payment.objects.filter(
            unsent,
            status=PaymentStatus.PENDING,
            account__isnull=True,
            updated_at__lte=stale,
            # Its age by the database's clock too (see the sweep).
            created_at__lte=stale,
        )
        .exclude(idempotency_key__startswith=RECURRING_KEY_PREFIX)
        .order_by("pk")
    )
    ended: list[Payment] = []
    for payment in orphans[: settings.PAYMENTS_RECONCILE_BATCH]:
        # Taken by a conditional touch: two sweeps at once end it once, and
        # an attempt stored meanwhile keeps it for reconciliation.
        taken = Payment.objects.filter(
            unsent,
            pk=payment.pk,
            status=PaymentStatus.PENDING,
            updated_at=payment.updated_at,
        ).update(updated_at=stamp())
        if not taken:
            continue
        logger.warning(
            "payment never sent to a gateway; failed", extra=log_ids(payment)
        )
        payment.refresh_from_db()
        ended.append(not_sent_fail(payment, "process stopped"))
    return ended


def not_sent_fail(payment: Payment, reason: str) -> Payment:
    """Fail a payment no gateway was ever asked about, and free its key so
    its caller may make it again (``reason``: our words, never provider
    text)."""
    return advance(
        payment,
        Change(
            status=PaymentStatus.FAILED,
            fields={
                "failure_code": "not_sent",
                "failure_message": (
                    f"Not sent to the gateway ({reason[:80]}); nothing was charged."
                ),
                "idempotency_key": None,
            },
        ),
    )
