"""Attempts: the idempotency key of every gateway call is stored (committed)
before the call, and the outcome recorded after it (``integrations.attempts``
does both; this module adds what payments keep of an unknown outcome)."""

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from integrations import registry
from integrations.attempts import attempt_run
from integrations.errors import Outcome, ProviderError
from integrations.models import ProviderAccount
from payments.models import Payment, PaymentAttempt
from payments.providers.base import PaymentsAdapter

KIND = "payments"
T = TypeVar("T")


def provider_key(payment: Payment, account: ProviderAccount, operation: str) -> str:
    """The idempotency key for one operation of ``payment`` at ``account``:
    fixed, so a retry or a reconciliation sends the same one."""
    suffix = "" if operation == "authorize" else f"-{operation[:3]}"
    return f"{payment.public_id}-a{account.pk}{suffix}"


def attempted(
    payment: Payment,
    adapter: PaymentsAdapter,
    operation: str,
    call: Callable[[str], T],
    *,
    reference: str = "",
    at: datetime | None = None,
) -> T:
    """Store the attempt with its key (committed), call, record the outcome.

    ``reference``: the provider reference known before the call (PayPal's
    approved order id), stored with the attempt before the call and put on
    the payment if the outcome is unknown, so reconciliation can look it up.
    ``at``: the attempt's ``created_at``, when the caller named the attempt
    by it beforehand (a follow-up's intent, ``payments.services.followups``:
    the database's time, read with the payment's lock); else the database's
    time in the attempt's INSERT. Another machine judges it in flight by it.
    """
    account = adapter.account

    def keep_unknown(error: ProviderError) -> None:
        if error.outcome != Outcome.UNKNOWN:
            return
        # The account may hold the charge: reconciliation must ask it.
        Payment.objects.filter(pk=payment.pk, account__isnull=True).update(
            account=account
        )
        if reference:
            Payment.objects.filter(
                pk=payment.pk, account=account, provider_reference=""
            ).update(provider_reference=reference[:255])

    return attempt_run(
        PaymentAttempt,
        owner={"payment": payment, **({} if at is None else {"created_at": at})},
        account=account,
        operation=operation,
        idempotency_key=provider_key(payment, account, operation),
        call=call,
        reference=reference,
        reference_of=_result_reference,
        on_error=keep_unknown,
        db_clock=_DB_CLOCK if at is None else (),
    )


# The attempt's stamp others compare (followups._under_way): the database's.
_DB_CLOCK = ("created_at",)


def _result_reference(result: object) -> str:
    # A capture the provider keeps as its own object (Braintree's partial
    # settlement) is recorded by its own reference.
    return getattr(result, "capture_reference", "") or getattr(
        result, "provider_reference", ""
    )


def adapter_for(account: ProviderAccount) -> PaymentsAdapter:
    adapter = registry.get_adapter(account)
    assert isinstance(adapter, PaymentsAdapter)
    return adapter
