"""Settling an ``unknown`` payment by hand: staff's outcome when the gateway
cannot say (a sale lost with no reference), checked against the gateway once,
then applied through ``advance`` like any other move."""

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from integrations import registry
from integrations.errors import ProviderError, Unknown
from integrations.models import ProviderAccount
from integrations.secrets_registry import known_secrets, redact_secrets
from payments.models import (
    MONEY_HOLDING_STATUSES,
    Payment,
    PaymentAttempt,
    PaymentNote,
    PaymentStatus,
    ReviewReason,
    ReviewState,
)
from payments.providers.base import PaymentResult, PaymentsAdapter, ProviderStatus
from payments.services.attempts import adapter_for
from payments.services.errors import (
    ChargeOwned,
    FollowUpInProgress,
    InvalidState,
    SettleRefused,
)
from payments.services.followups import follow_up_under_way, storefront_void_done
from payments.services.reconcile import charge_lookup, lookup_may_lag
from payments.services.state import Change, advance, lock_payment, log_ids

logger = logging.getLogger("payments.services")

# Staff's outcomes, and what the gateway must (not) say for each.
SETTLE_OUTCOMES = {
    "captured": PaymentStatus.CAPTURED,
    "authorized": PaymentStatus.AUTHORIZED,
    "failed": PaymentStatus.FAILED,
}
_AGREES = {
    PaymentStatus.CAPTURED: {ProviderStatus.CAPTURED},
    PaymentStatus.AUTHORIZED: {ProviderStatus.AUTHORIZED},
    PaymentStatus.FAILED: {ProviderStatus.FAILED, ProviderStatus.VOIDED},
}
# Look-ups that mean "the gateway cannot tell": staff's word is needed then.
_CANNOT_SAY = ("lookup_ambiguous", "lookup_not_supported")
SETTLED_FAILED = "settled_by_staff"


@dataclass(frozen=True)
class ManualOutcome:
    status: str
    provider_reference: str
    note: str
    actor: str


def payment_settle_by_hand(
    *, payment: Payment, outcome: str, provider_reference: str, note: str, actor: str
) -> Payment:
    """Settle an ``unknown`` payment as ``outcome`` (captured, authorized, or
    failed: nothing was charged). The gateway is asked once first; an answer
    that contradicts staff refuses it (``SettleRefused``). A money outcome
    names its charge, which no other payment may own (``ChargeOwned``)."""
    manual = ManualOutcome(
        status=SETTLE_OUTCOMES[outcome],
        provider_reference=provider_reference.strip(),
        note=note.strip(),
        actor=actor,
    )
    if not manual.note:
        raise InvalidState("Say how you know, in the note.", param="note")
    holds_money = manual.status != PaymentStatus.FAILED
    if holds_money and not manual.provider_reference:
        raise InvalidState(
            "Name the gateway's charge that holds the money.",
            param="provider_reference",
        )
    if payment.status != PaymentStatus.UNKNOWN:
        raise InvalidState(
            f"Only an unknown payment is settled by hand; it is {payment.status}."
        )
    account = _account_of(payment)
    if holds_money and account is None:
        raise InvalidState(
            "No gateway was ever asked for this payment: nothing holds money."
        )
    if account is not None:
        _refuse_if_owned(payment, account, manual)
        _refuse_other_reference(payment, manual)
        try:
            adapter = adapter_for(account)
        except registry.ACCOUNT_UNCALLABLE as error:
            raise SettleRefused(
                "The gateway could not be asked; nothing was changed.",
                said=type(error).__name__,
            ) from None
        found = _gateway_check(payment, adapter, manual)
    else:
        found = None
    return _apply(payment, account, manual, found)


def _account_of(payment: Payment) -> ProviderAccount | None:
    """The account that may hold the charge: the payment's, else that of its
    last create attempt (a process that died mid-create)."""
    if payment.account is not None:
        return payment.account
    attempt = (
        PaymentAttempt.objects.filter(payment=payment, operation="authorize")
        .select_related("account")
        .order_by("-pk")
        .first()
    )
    return attempt.account if attempt else None


def _refuse_if_owned(
    payment: Payment, account: ProviderAccount, manual: ManualOutcome
) -> None:
    if not manual.provider_reference or manual.status == PaymentStatus.FAILED:
        return
    owner = (
        Payment.objects.filter(
            account=account,
            provider_reference=manual.provider_reference,
            status__in=MONEY_HOLDING_STATUSES,
        )
        .exclude(pk=payment.pk)
        .first()
    )
    if owner is not None:
        raise ChargeOwned(
            f"That charge belongs to payment {owner.public_id}.",
            param="provider_reference",
        )


def _refuse_other_reference(payment: Payment, manual: ManualOutcome) -> None:
    """A payment that has its own charge is settled by that charge only:
    staff's reference never replaces it."""
    own = payment.provider_reference
    if own and manual.provider_reference and manual.provider_reference != own:
        raise InvalidState(
            f"This payment's charge is {own}; settle it by that reference.",
            param="provider_reference",
        )


def _gateway_check(
    payment: Payment, adapter: PaymentsAdapter, manual: ManualOutcome
) -> PaymentResult | None:
    """The gateway's record of the payment's own charge (its reference, else
    the create's key) and, when that finds none, of staff's reference; refused
    when either contradicts staff. None: the gateway has none, or cannot tell."""
    own, told = _ask(payment, adapter, "")
    if own is not None:
        if manual.provider_reference not in ("", own.provider_reference):
            raise SettleRefused(
                "The gateway holds this payment's charge under another reference.",
                said=_said(own),
            )
        return _agreed(payment, manual, own)
    if manual.provider_reference:
        found, told = _ask(payment, adapter, manual.provider_reference)
        if found is not None:
            return _agreed(payment, manual, found)
        if told and manual.status != PaymentStatus.FAILED:
            raise SettleRefused(
                "The gateway has no such charge.",
                said=_masked(f"no charge {manual.provider_reference}"),
            )
    if told and lookup_may_lag(payment, adapter):
        raise SettleRefused(
            "The gateway's search may not show the charge yet; try again later.",
            said="not found (yet)",
        )
    return None


def _ask(
    payment: Payment, adapter: PaymentsAdapter, reference: str
) -> tuple[PaymentResult | None, bool]:
    """The gateway's record by ``reference`` (else the payment's own), and
    whether it could tell at all (False: its search cannot say)."""
    try:
        return charge_lookup(payment, adapter, reference=reference), True
    except Unknown as exc:
        if exc.code in _CANNOT_SAY:
            return None, False
        raise _unanswered(exc) from exc
    except ProviderError as exc:
        raise _unanswered(exc) from exc


def _agreed(
    payment: Payment, manual: ManualOutcome, found: PaymentResult
) -> PaymentResult:
    """``found``, unless its status, currency, amount or order contradict
    staff's outcome for this payment (another order's charge)."""
    authorized = found.amount_authorized or found.amount_captured
    if (
        found.status not in _AGREES[manual.status]
        or (found.currency and found.currency.upper() != payment.currency.upper())
        or (authorized and authorized != payment.amount)
        or found.amount_captured > payment.amount
        or (found.order_id and found.order_id != payment.order_id)
    ):
        raise SettleRefused(
            "The gateway's answer contradicts that outcome.", said=_said(found)
        )
    return found


def _unanswered(exc: ProviderError) -> SettleRefused:
    return SettleRefused(
        "The gateway could not be asked; nothing was changed. Try again.",
        said=_masked(f"{exc.code}: {exc.message}"),
    )


def _said(found: PaymentResult) -> str:
    return _masked(
        f"{found.status} {found.provider_reference}: authorized "
        f"{found.amount_authorized}, captured {found.amount_captured} "
        f"{found.currency}"
    )


def _masked(text: str) -> str:
    return redact_secrets(text, known_secrets(fresh=True))[:500]


def _apply(
    payment: Payment,
    account: ProviderAccount | None,
    manual: ManualOutcome,
    found: PaymentResult | None,
) -> Payment:
    """Staff's outcome under the payment's row lock, refused while a capture
    or void is under way (their lock), through ``advance``: its event, and
    the failure fields cleared."""
    change = _change(payment, account, manual, found)
    try:
        with transaction.atomic():
            row = lock_payment(payment.pk)
            if row.status != PaymentStatus.UNKNOWN:
                raise InvalidState(f"The payment was settled meanwhile: {row.status}.")
            busy = follow_up_under_way(row)
            if busy is not None:
                raise FollowUpInProgress(
                    f"A {busy} of this payment is under way; try again later.",
                    code=f"{busy}_in_progress",
                )
            PaymentNote.objects.create(
                payment=row,
                kind="settled_by_hand",
                title=f"Settled by hand as {manual.status} by {manual.actor}"[:255],
                detail=_masked(manual.note),
            )
            row = storefront_void_done(advance(row, _with_review(row, change)))
            # Imported here: the recurring charges' modules import this one.
            # In this transaction: a kill after it loses no period.
            from payments.services.recurring import recurring_payment_failed
            from payments.services.slots import period_charged

            if row.status == PaymentStatus.FAILED:
                recurring_payment_failed(row)
            elif row.status in MONEY_HOLDING_STATUSES:
                period_charged(row)
    except IntegrityError as exc:
        raise ChargeOwned(
            "That charge belongs to another payment.", param="provider_reference"
        ) from exc
    logger.warning(
        "payment settled by hand",
        extra={**log_ids(row), "status": row.status, "actor": manual.actor},
    )
    return row


def _change(
    payment: Payment,
    account: ProviderAccount | None,
    manual: ManualOutcome,
    found: PaymentResult | None,
) -> Change:
    if found is not None and found.status == ProviderStatus.VOIDED:
        # Nothing was taken, and the gateway says how: its authorization was
        # released (a void whose answer was lost).
        return Change(status=PaymentStatus.VOIDED)
    if manual.status == PaymentStatus.FAILED:
        return Change(
            status=PaymentStatus.FAILED,
            fields={
                "failure_code": SETTLED_FAILED,
                "failure_message": "Nothing was charged.",
                "failure_provider_code": "",
                "failure_advice_code": "",
            },
        )
    authorized = (found.amount_authorized if found else 0) or payment.amount
    captured = 0
    if manual.status == PaymentStatus.CAPTURED:
        captured = (found.amount_captured if found else 0) or payment.amount
    return Change(
        status=manual.status,
        authorized=authorized,
        captured=captured,
        fields={"account": account, "provider_reference": manual.provider_reference},
    )


def _with_review(row: Payment, change: Change) -> Change:
    """An unknown payment in review only because it could not be settled:
    settling it closes that review (a fraud hold still waits for staff)."""
    if (
        row.review_state != ReviewState.PENDING
        or row.review_reason != ReviewReason.UNRESOLVED
    ):
        return change
    fields = {**(change.fields or {}), "review_state": ReviewState.RESOLVED}
    return Change(
        status=change.status,
        authorized=change.authorized,
        captured=change.captured,
        fields=fields,
    )
