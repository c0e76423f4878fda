"""Create: screen, then authorize (and capture) over the payment accounts.

Failover moves on only after ``not_processed``; a decline is final
(``failed``); ``unknown`` stops everything.
"""

import json
import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from integrations import money
from integrations.commits import group_alone, group_rollback
from integrations.db import savepoint_if_nested
from integrations.errors import NotProcessed, Rejected
from integrations.failover import (
    FailoverRejected,
    FailoverUnknown,
    NoProviderAvailable,
    run_with_failover,
)
from integrations.models import ProviderAccount
from integrations.models.attempts import AttemptOutcome
from integrations.row_new import row_new
from payments import fraud
from payments.models import (
    NOTHING_TO_REVIEW,
    Payment,
    PaymentAttempt,
    PaymentNote,
    PaymentStatus,
    ReviewReason,
    ReviewState,
    email_stored,
)
from payments.providers.base import PaymentRequest, PaymentResult, PaymentsAdapter
from payments.services.attempts import KIND, adapter_for, attempted
from payments.services.errors import (
    FollowUpInProgress,
    GatewayRejected,
    GatewayUnavailable,
    KeyReused,
    PaymentError,
)
from payments.services.followups import payment_capture
from payments.services.pan import pan_refuse
from payments.services.state import (
    Change,
    advance,
    change_from_result,
    log_ids,
    mark_failed,
    mark_unavailable,
    mark_unknown,
    payment_insert,
    reconciliation_schedule,
)

# One logger for the whole package, named as before the split, so log
# records and logging configuration keep addressing it.
logger = logging.getLogger("payments.services")


def payment_create(
    *,
    order_id: str,
    amount: int,
    currency: str,
    source_token: str,
    capture: bool,
    idempotency_key: str,
    customer_reference: str = "",
    customer_email: str = "",
    ip_address: str | None = None,
    billing_country: str = "",
    card_fingerprint: str = "",
    ip_country: str = "",
    metadata: dict[str, Any] | None = None,
    accounts: Sequence[ProviderAccount] | None = None,
    screening_ahead: fraud.Ahead | None = None,
) -> Payment:
    """Screen, then authorize (and capture) over the payment accounts. Always
    returns the payment; its status says what happened (``failed``, ``blocked``,
    ``unknown``...). The same key and request give the same payment, never
    charged twice; another request under the key raises KeyReused. Also raises
    PanRefused, ValueError (bad amount or currency), GatewayUnavailable (nothing
    charged). ``accounts``, ``screening_ahead``: if the caller has them."""
    pan_refuse(source_token=source_token, metadata=metadata)
    currency = checked_currency(amount, currency)
    # A repeated key is found by payment_store's unique insert (a query fewer).
    screening = fraud.payment_screen(
        amount=amount,
        currency=currency,
        customer_reference=customer_reference,
        customer_email=customer_email,
        ip_address=ip_address,
        billing_country=billing_country,
        card_fingerprint=card_fingerprint,
        ip_country=ip_country,
        ahead=screening_ahead,
    )
    asked = {
        "order_id": order_id,
        "amount": amount,
        "currency": currency,
        "capture_requested": capture,
        "customer_reference": customer_reference,
        "customer_email": email_stored(customer_email),
        "metadata": as_stored(metadata or {}),
    }
    payment, created = payment_store(
        screening,
        **asked,
        ip_address=ip_address or None,
        idempotency_key=idempotency_key,
    )
    if not created:  # a saved method's charge is another request
        return payment_repeat(payment, asked, same_source=not payment.saved_method_id)
    if screening.level == fraud.RiskLevel.HIGH:
        return payment_block(payment)
    held = screening.level == fraud.RiskLevel.MEDIUM
    request = build_payment_request(payment, source_token, capture=capture and not held)
    return _authorize_with_failover(payment, request, accounts)


def payment_repeat(
    payment: Payment, asked: dict[str, Any], *, same_source: bool
) -> Payment:
    """``payment``, its key's, if it was this request: ``asked`` (fields as
    stored) equal to its own and ``same_source`` (the same kind of source,
    or saved method). Else KeyReused: once the API's Idempotency-Key record
    expired, its key reaches here again, and another order answered with
    this payment would be booked as paid with nothing charged for it."""
    kept = {name: getattr(payment, name) for name in asked}
    if same_source and kept == asked:
        return payment
    raise KeyReused(
        "This idempotency key was already used for another payment (another "
        "order, amount, currency, capture, customer, metadata or payment "
        "method).",
        param="idempotency_key",
    )


def as_stored(metadata: dict[str, Any]) -> Any:
    """``metadata`` as the payment's JSON column gives it back (a tuple is a
    list, a key a string): a repeat compares equal to what was stored (none
    and ``{}`` are one; key order never matters)."""
    return json.loads(json.dumps(metadata))


def checked_currency(amount: int, currency: str) -> str:
    """The upper-cased ISO code; MoneyError or ValueError for a bad input."""
    code = money.validate_currency(currency)
    if not isinstance(amount, int) or not 0 < amount <= money.max_amount(code):
        raise ValueError("amount must be a positive integer of minor units")
    return code


def payment_store(screening: fraud.Screening, **fields: Any) -> tuple[Payment, bool]:
    """The new payment with its screening, or (``False``) the one a
    concurrent call with the same idempotency key created first."""
    review = screening.level == fraud.RiskLevel.MEDIUM
    try:
        with _conflict_undoable():
            payment = row_new(
                Payment,
                **fields,
                risk_score=screening.score,
                risk_level=str(screening.level),
                risk_reasons=list(screening.reasons),
                review_state=ReviewState.PENDING if review else ReviewState.NONE,
            )
            # Stamped by the database's clock, which ages are measured by
            # (reconciliation's lag guard and review timer, the sweep, the
            # card's rule for a card's charge).
            payment_insert(payment)
    except IntegrityError:
        return Payment.objects.get(idempotency_key=fields["idempotency_key"]), False
    logger.info(
        "payment created",
        extra={
            "payment_id": payment.public_id,
            "risk_level": payment.risk_level,
            "currency": payment.currency,
        },
    )
    return payment, True


@contextmanager
def _conflict_undoable() -> Iterator[None]:
    """Let a unique conflict on the payment's INSERT be caught and the work go
    on. In the API's commit group the INSERT goes in without a savepoint (two
    round trips fewer): a conflict rolls the group back, losing only the
    request's idempotency claim, so this one answer is not stored for replay;
    the same key finds the same payment again. Elsewhere: a savepoint."""
    if not group_alone():
        with savepoint_if_nested():
            yield
        return
    try:
        yield
    except IntegrityError:
        group_rollback()
        raise


def payment_block(payment: Payment) -> Payment:
    return advance(
        payment,
        Change(
            status=PaymentStatus.BLOCKED,
            fields={
                "failure_code": "payment_blocked",
                "failure_message": "Blocked by fraud screening.",
            },
        ),
    )


def build_payment_request(
    payment: Payment,
    source_token: str,
    *,
    capture: bool,
    provider_customer_id: str = "",
    off_session: bool = False,
) -> PaymentRequest:
    return PaymentRequest(
        amount=payment.amount,
        currency=payment.currency,
        source_token=source_token,
        capture=capture,
        idempotency_key="",  # set per account by attempted
        order_id=payment.order_id,
        customer_reference=payment.customer_reference,
        customer_email=payment.customer_email,
        metadata={str(k): str(v) for k, v in payment.metadata.items()},
        provider_customer_id=provider_customer_id,
        off_session=off_session,
    )


def authorize_at(
    payment: Payment, request: PaymentRequest, adapter: PaymentsAdapter
) -> PaymentResult:
    if request.capture and adapter.capture_after_authorize:
        # Authorize first, capture once the reference is stored (Square):
        # see PaymentsAdapter.capture_after_authorize.
        request = replace(request, capture=False)

    def call(key: str) -> PaymentResult:
        keyed = _with_key(request, key)
        try:
            if request.off_session:
                return adapter.charge_saved(keyed)
            return adapter.authorize(keyed)
        except Rejected as exc:
            if adapter.source_bound_to_account and exc.code == "not_found":
                # Another account's order: this one did nothing with it.
                raise NotProcessed(
                    "the source belongs to another account", code=SOURCE_ELSEWHERE
                ) from exc
            raise

    pattern = adapter.source_format
    if pattern and not re.fullmatch(pattern, request.source_token):
        # Not this gateway's kind of source: nothing is sent, try the next.
        raise NotProcessed(
            f"{adapter.display_name} cannot take this source token",
            code="source_not_supported",
        )
    reference = adapter.reference_before_call(request)
    return attempted(payment, adapter, "authorize", call, reference=reference)


def _with_key(request: PaymentRequest, key: str) -> PaymentRequest:
    return replace(request, idempotency_key=key)


def _authorize_with_failover(
    payment: Payment,
    request: PaymentRequest,
    accounts: Sequence[ProviderAccount] | None = None,
) -> Payment:
    try:
        served = run_with_failover(
            KIND,
            lambda adapter: authorize_at(payment, request, adapter),  # type: ignore[arg-type]
            operation_name="authorize",
            accounts=accounts,
        )
    except FailoverRejected as exc:
        return mark_failed(payment, exc)
    except FailoverUnknown:
        return mark_unknown(payment)
    except NoProviderAvailable as exc:
        if _source_unknown_everywhere(exc):
            return mark_failed(payment, Rejected("no such source", code="not_found"))
        mark_unavailable(payment, exc)
        raise GatewayUnavailable(
            "No payment gateway could be reached; nothing was charged."
        ) from exc
    payment = record_authorized(payment, served.result, served.account)
    return capture_owed(payment) if request.capture else payment


# A gateway answered that the source (a PayPal order) is not its own.
SOURCE_ELSEWHERE = "source_unknown_here"
_NOT_APPLICABLE = frozenset({SOURCE_ELSEWHERE, "source_not_supported"})


def _source_unknown_everywhere(exc: NoProviderAvailable) -> bool:
    """Every gateway that could take the source answered it does not know it:
    a decline. One that could not be reached may own it: a 503, never a
    decline, so the storefront tries again later."""
    codes = {attempt.code for attempt in exc.attempts}
    return SOURCE_ELSEWHERE in codes and codes <= _NOT_APPLICABLE


def record_authorized(
    payment: Payment, result: PaymentResult, account: ProviderAccount
) -> Payment:
    payment = advance(payment, change_from_result(result, account))
    # Not stored: the storefront gets it once, to finish 3-D Secure.
    payment.client_secret = result.client_secret  # type: ignore[attr-defined]
    payment.next_action = result.next_action  # type: ignore[attr-defined]
    return payment


def owes_capture(payment: Payment) -> bool:
    """An authorization the storefront asked to capture, at a provider the
    service captures in a second call (``capture_after_authorize``), that
    nobody asked to void since: a void that may have reached the gateway (the
    storefront's or staff's; under way, answered, refused or its answer lost)
    cancels the order, so its capture is never sent."""
    return (
        payment.status == PaymentStatus.AUTHORIZED
        and payment.capture_requested
        and payment.review_state in NOTHING_TO_REVIEW
        and payment.amount_captured == 0
        and payment.account is not None
        and adapter_for(payment.account).capture_after_authorize
        and not voids_sent().filter(payment=payment).exists()
    )


def voids_sent() -> QuerySet[PaymentAttempt]:
    """Void attempts that may have reached the gateway: all but those it
    certainly did not process (``not_processed``: it was not reached)."""
    return PaymentAttempt.objects.filter(operation="void").exclude(
        outcome=AttemptOutcome.NOT_PROCESSED
    )


def capture_owed(payment: Payment) -> Payment:
    """Capture an authorization made with ``capture=False`` only because the
    provider captures in a second call. The authorization (and its
    reference) is stored first, so a lost capture is reconciled by reference;
    an unreachable gateway leaves it authorized and reconciliation retries."""
    if not owes_capture(payment):
        return payment
    try:
        captured = payment_capture(payment=payment, actor="switchyard")
    except (GatewayUnavailable, FollowUpInProgress):
        # Unreachable, or staff's capture or void is at the gateway: ask again
        # once it has answered (the sweep is the backstop).
        logger.warning("capture after authorization deferred", extra=log_ids(payment))
        reconciliation_schedule(payment=payment)
        return _fresh(payment)
    except GatewayRejected as exc:
        _owed_capture_refused(payment, exc)
        return _fresh(payment)
    except PaymentError as exc:
        # Not the gateway's word (the payment moved on meanwhile): not owed.
        logger.warning(
            "capture after authorization not sent",
            extra={**log_ids(payment), "error_code": exc.code},
        )
        return _fresh(payment)
    for name in ("client_secret", "next_action"):
        if hasattr(payment, name):
            setattr(captured, name, getattr(payment, name))
    return captured


def _owed_capture_refused(payment: Payment, exc: GatewayRejected) -> None:
    """The gateway refused the owed capture (the authorization expired, say):
    sending it again would be refused again. It stays authorized, no longer
    owed, in the review queue for staff to capture or void (logged once)."""
    logger.error(
        "capture after authorization refused; in review",
        extra={**log_ids(payment), "error_code": exc.code},
    )
    with transaction.atomic():
        PaymentNote.objects.create(
            payment=payment,
            kind="capture_refused",
            title=f"The gateway refused the owed capture ({exc.code})"[:255],
            detail="The storefront asked for a capture; the gateway refused it, "
            "so it is not sent again. Capture or void the payment yourself.",
        )
        advance(
            _fresh(payment),
            Change(
                fields={
                    "capture_requested": False,
                    "review_state": ReviewState.PENDING,
                    "review_reason": ReviewReason.CAPTURE_REFUSED,
                }
            ),
        )


def _fresh(payment: Payment) -> Payment:
    secret, action = (
        getattr(payment, "client_secret", ""),
        getattr(payment, "next_action", None),
    )
    payment.refresh_from_db()
    payment.client_secret = secret  # type: ignore[attr-defined]
    payment.next_action = action  # type: ignore[attr-defined]
    return payment
