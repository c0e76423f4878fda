"""Saved methods and their charges: one-off (screened) and recurring."""

import logging
from collections.abc import Callable
from typing import Any, NamedTuple

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import transaction

from integrations.clock import database_now
from integrations.db import drop_if_busy
from integrations.errors import NotProcessed, ProviderError, Rejected
from integrations.failover import (
    FailoverRejected,
    FailoverUnknown,
    NoProviderAvailable,
    run_with_failover,
)
from integrations.models import ProviderAccount
from payments import fraud, limits
from payments.models import (
    Payment,
    PaymentAttempt,
    PaymentNote,
    PaymentStatus,
    SavedPaymentMethod,
)
from payments.providers.base import PaymentsAdapter, SavedMethod, SaveMethodRequest
from payments.services.attempts import KIND, adapter_for
from payments.services.card_rule import DECLINED_FOR_GOOD, final_decline_in_force
from payments.services.cards import card_lock
from payments.services.create import (
    as_stored,
    authorize_at,
    build_payment_request,
    capture_owed,
    checked_currency,
    payment_block,
    payment_repeat,
    payment_store,
    record_authorized,
)
from payments.services.errors import (
    GatewayRejected,
    GatewayUnavailable,
    PaymentError,
)
from payments.services.followups import fraud_held
from payments.services.messages import (
    provider_code_of,
    public_message,
    retry_wait_message,
)
from payments.services.pan import pan_refuse
from payments.services.reconcile import (
    DUPLICATE_CODES,
    RECURRING_KEY_PREFIX,
    duplicate_look_up,
    not_sent_fail,
)
from payments.services.slots import RETRY_WAIT, advised_until, period_charged
from payments.services.state import (
    Change,
    advance,
    lock_payment,
    mark_failed,
    mark_unavailable,
    mark_unknown,
)

# One logger for the whole package, named as before the split, so log
# records and logging configuration keep addressing it.
logger = logging.getLogger("payments.services")


def payment_method_save(
    *,
    customer_reference: str,
    source_token: str,
    idempotency_key: str,
    customer_email: str = "",
    make_default: bool = False,
) -> SavedPaymentMethod:
    """Vault a client-side token at the first reachable payment account.
    The e-mail is kept on the method as given: its charges are screened
    against the e-mail blocklist with it."""
    pan_refuse(source_token=source_token)
    _email_refuse(customer_email)
    existing = SavedPaymentMethod.objects.filter(idempotency_key=idempotency_key)
    if existing.exists():
        return existing.get()

    def save(adapter: PaymentsAdapter) -> SavedMethod:
        known = SavedPaymentMethod.objects.filter(
            customer_reference=customer_reference, account=adapter.account
        ).first()
        return adapter.save_method(
            SaveMethodRequest(
                customer_reference=customer_reference,
                source_token=source_token,
                idempotency_key=f"{idempotency_key[:200]}-a{adapter.account.pk}",
                customer_email=customer_email,
                provider_customer_id=known.provider_customer_id if known else "",
            )
        )

    try:
        served = run_with_failover(KIND, save, operation_name="save_method")  # type: ignore[arg-type]
    except FailoverRejected as exc:
        # Our message: the provider's text may quote what we sent.
        raise GatewayRejected(
            public_message(exc.code), code=exc.code, provider_code=provider_code_of(exc)
        ) from exc
    except (FailoverUnknown, NoProviderAvailable) as exc:
        raise GatewayUnavailable(
            "The payment method could not be saved; try again."
        ) from exc
    return _method_store(
        served.result,
        served.account,
        customer_reference,
        idempotency_key,
        make_default,
        customer_email,
    )


def _email_refuse(customer_email: str) -> None:
    """Checked before the gateway keeps the card: an e-mail the column
    cannot hold would fail the INSERT after it."""
    if not customer_email:
        return
    try:
        EmailValidator()(customer_email)
    except ValidationError:
        raise PaymentError(
            "Enter a valid email address.", code="invalid", param="customer_email"
        ) from None
    limit = SavedPaymentMethod._meta.get_field("customer_email").max_length
    if len(customer_email) > limit:
        raise PaymentError(
            f"Ensure this field has no more than {limit} characters.",
            code="max_length",
            param="customer_email",
        )


def _method_store(
    saved: SavedMethod,
    account: ProviderAccount,
    customer_reference: str,
    idempotency_key: str,
    make_default: bool,
    customer_email: str,
) -> SavedPaymentMethod:
    # What the screening of its charges reads ("" when not known).
    screened = {
        "customer_email": customer_email,
        "card_fingerprint": saved.card_fingerprint[:255],
    }
    with transaction.atomic():
        others = SavedPaymentMethod.objects.select_for_update().filter(
            customer_reference=customer_reference
        )
        first = not others.exists()
        if make_default:
            others.update(is_default=False)
        method, _created = SavedPaymentMethod.objects.get_or_create(
            account=account,
            provider_method_id=saved.provider_method_id,
            defaults={
                "customer_reference": customer_reference,
                "provider_customer_id": saved.provider_customer_id,
                "card_brand": saved.card_brand,
                "card_last4": saved.card_last4,
                "exp_month": saved.exp_month,
                "exp_year": saved.exp_year,
                "is_default": make_default or first,
                "idempotency_key": idempotency_key,
                **screened,
            },
        )
        _screened_fill(method, screened)
    logger.info(
        "payment method saved",
        extra={"method_id": method.public_id, "account": account.slug},
    )
    return method


def _screened_fill(method: SavedPaymentMethod, screened: dict[str, str]) -> None:
    """A method saved again (or before these were kept) gains what it lacks;
    what it holds stays (a later save without an e-mail keeps it)."""
    missing = {
        name: value
        for name, value in screened.items()
        if value and not getattr(method, name)
    }
    if missing:
        SavedPaymentMethod.objects.filter(pk=method.pk).update(**missing)
        for name, value in missing.items():
            setattr(method, name, value)


def saved_method_charge(
    *,
    saved_method: SavedPaymentMethod,
    amount: int,
    currency: str,
    order_id: str,
    idempotency_key: str,
    capture: bool = True,
    metadata: dict[str, Any] | None = None,
) -> Payment:
    """Off-session charge of a saved method, at the account that holds it (a
    vaulted method exists at one gateway only, so no failover). Screened as
    an API payment is: a high risk is blocked, a medium one held for review
    (authorized only); a recurring run's payment is not screened. Raises
    ValueError for a bad amount or currency, as ``payment_create`` does, and
    PaymentError ``idempotency_key_reused`` for a key already used with
    another order, amount, currency, capture, metadata or method (the same
    request again returns its payment)."""
    # The API's own check: a bad amount never reaches the screened INSERT,
    # which reads any IntegrityError as a repeated key.
    currency = checked_currency(amount, currency)
    pan_refuse(metadata=metadata)
    _service_keys_refuse(metadata or {}, idempotency_key)
    asked = {
        "order_id": order_id,
        "amount": amount,
        "currency": currency,
        "capture_requested": capture,
        "metadata": as_stored(metadata or {}),
    }
    existing = Payment.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return _same_request(existing, saved_method, asked)
    # Looked up first: an account this deploy cannot call leaves no payment.
    adapter = adapter_for(saved_method.account)
    payment, created = _screened_store(
        saved_method,
        **asked,
        customer_reference=saved_method.customer_reference,
        idempotency_key=idempotency_key,
    )
    if not created:
        return _same_request(payment, saved_method, asked)
    if payment.status == PaymentStatus.BLOCKED:
        return payment
    try:
        refused = _held_card_refuse(payment, saved_method)
    except BaseException as exc:
        # A fault of ours before the gateway call, as saved_method_send's:
        # ended not_sent, its key freed (never left pending until the sweep).
        _send_stopped(payment, exc, lambda: None)
        raise
    if refused is not None:
        return refused
    return saved_method_send(payment, saved_method, adapter)


class _Hold(NamedTuple):
    """Why a card's one-off charge is refused unsent: its failure fields,
    the note on its timeline and the log line."""

    code: str
    message: str
    note_kind: str
    note_title: str
    note_detail: str
    log_message: str
    log_extra: dict[str, str]


def _held_card_refuse(
    payment: Payment, saved_method: SavedPaymentMethod
) -> Payment | None:
    """``payment`` failed unsent (our code, its key kept: a repeat is
    answered the same) if its card is held (``_card_hold``): charged again
    it is declined again, a retry card networks count against us. None if
    it may be sent. Read under the card's lock (after the payment's, the
    order every path takes), so a decline being stored meanwhile is seen."""
    with transaction.atomic():
        lock_payment(payment.pk)
        card_lock(saved_method.pk)
        hold = _card_hold(saved_method)
        if hold is None:
            return None
        refused = advance(
            payment,
            Change(
                status=PaymentStatus.FAILED,
                fields={"failure_code": hold.code, "failure_message": hold.message},
            ),
        )
        PaymentNote.objects.create(
            payment=refused,
            kind=hold.note_kind,
            title=hold.note_title,
            detail=hold.note_detail,
        )
        # In the refusal's commit: a fault after it would free a kept key.
        logger.warning(
            hold.log_message, extra={"payment_id": refused.public_id, **hold.log_extra}
        )
    return refused


def _card_hold(saved_method: SavedPaymentMethod) -> _Hold | None:
    """What holds a one-off charge of the card: its hard-decline rule
    (``card_rule``), else the wait its network advised (``advised_until``,
    on the database's clock as the rule's stamps are: ``cards``)."""
    decline = final_decline_in_force(saved_method)
    if decline is not None:
        return _Hold(
            DECLINED_FOR_GOOD,
            public_message(DECLINED_FOR_GOOD),
            "card_declined_for_good",
            "Refused before sending: the card was declined for good",
            f"The card's decline on {decline.public_id} "
            f"({decline.failure_code}) is in force: nothing was sent. The "
            "customer charges another card, or this one once it is approved.",
            "saved card charge refused; its card was declined for good",
            {"decline_id": decline.public_id},
        )
    now = database_now()
    until = advised_until(saved_method, now)
    if until is None or until <= now:
        return None
    return _Hold(
        RETRY_WAIT,
        retry_wait_message(until),
        "card_retry_wait",
        "Refused before sending: the card network's retry wait is on",
        f"A decline of this card came with the network's advice to wait until "
        f"{until.isoformat()}: nothing was sent. The customer tries again "
        "after it, or charges another card.",
        "saved card charge refused; its card network's wait is on",
        {"until": until.isoformat()},
    )


def _same_request(
    payment: Payment, saved_method: SavedPaymentMethod, asked: dict[str, Any]
) -> Payment:
    """``payment``, the key's, if it was this request (method, order, amount,
    currency, capture, metadata: none and ``{}`` are one); else refused, as
    the API refuses a key reused with another body (its metadata included):
    another order answered with this payment would pass as paid. A payment
    stored before payments named their method is matched by its customer
    and account."""
    if payment.saved_method_id is not None:
        same_method = payment.saved_method_id == saved_method.pk
    else:
        same_method = (
            payment.customer_reference == saved_method.customer_reference
            and payment.account_id in (None, saved_method.account_id)
        )
    return payment_repeat(payment, asked, same_source=same_method)


def method_velocity_lock(saved_method: SavedPaymentMethod) -> None:
    """The velocity locks a charge of ``saved_method`` takes (its customer
    reference and the e-mail kept at save), without its screening: for the
    recurring run's payments, unscreened but counted (docs/payments.md)."""
    fraud.velocity_lock(
        customer_reference=saved_method.customer_reference,
        customer_email=saved_method.customer_email,
    )


def _screened_store(
    saved_method: SavedPaymentMethod, **fields: Any
) -> tuple[Payment, bool]:
    """Screen the charge and store it in one transaction: the velocity lock
    is held until the payment is committed, so the customer's next payment,
    by any path, waits for it and counts it (docs/payments.md). A high risk
    is blocked in that commit: a kill after it cannot leave the verdict
    unrecorded (a pending payment the unsent sweep would end 'not sent')."""
    with transaction.atomic():
        screening = fraud.payment_screen(
            amount=fields["amount"],
            currency=fields["currency"],
            customer_reference=fields["customer_reference"],
            # The blocklists' inputs kept at save; no IP or country off-session.
            customer_email=saved_method.customer_email,
            ip_address=None,
            billing_country="",
            card_fingerprint=saved_method.card_fingerprint,
        )
        payment, created = payment_store(screening, saved_method=saved_method, **fields)
        if created and screening.level == fraud.RiskLevel.HIGH:
            payment = payment_block(payment)
        return payment, created


def _service_keys_refuse(metadata: dict[str, Any], idempotency_key: str) -> None:
    """What the recurring run writes for itself (its metadata keys, its
    slots' keys) is refused: it would bring the payment under its rules."""
    reserved = limits.reserved_key(metadata)
    if reserved is not None:
        raise PaymentError(
            "This key is reserved by Switchyard.",
            code="reserved_key",
            param=f"metadata.{reserved}",
        )
    if idempotency_key.startswith(RECURRING_KEY_PREFIX):
        raise PaymentError(
            f"Keys starting {RECURRING_KEY_PREFIX!r} are reserved by Switchyard.",
            code="reserved_key",
            param="idempotency_key",
        )


def saved_method_send(
    payment: Payment,
    saved_method: SavedPaymentMethod,
    adapter: PaymentsAdapter,
    *,
    not_charged: Callable[[], object] = lambda: None,
    declined: Callable[[Payment], object] = lambda payment: None,
) -> Payment:
    """Send the stored ``payment`` off-session to ``saved_method``'s gateway.
    Any other fault before the gateway call frees its key (nothing charged):
    a payment is never left ``pending`` with no one to settle it. A refusal
    as a duplicate is no decline: ``duplicate_look_up``. ``not_charged``
    runs in the transaction that fails it with nothing charged; ``declined``
    in the one that stores the gateway's refusal."""
    # A fraud hold is authorized only; staff's approval captures it.
    capture = payment.capture_requested and not fraud_held(payment)
    try:
        request = build_payment_request(
            payment,
            saved_method.provider_method_id,
            capture=capture,
            provider_customer_id=saved_method.provider_customer_id,
            off_session=True,
        )
        result = authorize_at(payment, request, adapter)
    except Rejected as exc:
        if exc.code in DUPLICATE_CODES:
            return duplicate_look_up(payment)
        with transaction.atomic():
            failed = mark_failed(payment, exc)
            declined(failed)
        return failed
    except NotProcessed as exc:
        with transaction.atomic():
            mark_unavailable(payment, exc)
            not_charged()
        raise GatewayUnavailable(
            "The payment gateway could not be reached; nothing was charged."
        ) from exc
    except ProviderError:
        return mark_unknown(payment)
    except BaseException as exc:
        _send_stopped(payment, exc, not_charged)
        raise
    with transaction.atomic():
        payment = record_authorized(payment, result, saved_method.account)
        # With the answer: a kill after it cannot lose a period charged twice.
        period_charged(payment)
    return capture_owed(payment) if capture else payment


def _send_stopped(
    payment: Payment, error: BaseException, not_charged: Callable[[], object]
) -> None:
    """A fault of ours around the gateway call: unknown if the call may have
    gone (its attempt is stored first), else failed and its key freed."""
    drop_if_busy()  # a stop inside a statement's reading left it unread
    if PaymentAttempt.objects.filter(payment=payment).exists():
        mark_unknown(payment)
        return
    with transaction.atomic():
        not_sent_fail(payment, type(error).__name__)
        not_charged()
