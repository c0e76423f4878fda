"""Attempts: the idempotency key of every gateway call is stored (committed)
before the call, and the outcome recorded after it."""

import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.utils import timezone

from integrations import registry
from integrations.errors import Outcome, ProviderError
from integrations.models import ProviderAccount
from payments.models import AttemptOutcome, Payment, PaymentAttempt
from payments.providers.base import PaymentsAdapter

KIND = "payments"
T = TypeVar("T")


def _provider_key(payment: Payment, account: ProviderAccount, operation: str) -> str:
    """The idempotency key for one operation of ``payment`` at ``account``:
    fixed, so a retry or a reconciliation sends the same one."""
    suffix = "" if operation == "authorize" else f"-{operation[:3]}"
    return f"{payment.public_id}-a{account.pk}{suffix}"


def _attempted(
    payment: Payment,
    adapter: PaymentsAdapter,
    operation: str,
    call: Callable[[str], T],
    *,
    reference: str = "",
) -> T:
    """Store the attempt with its key (committed), call, record the outcome.

    ``reference``: the provider reference known before the call (PayPal's
    approved order id), stored with the attempt before the call and put on
    the payment if the outcome is unknown, so reconciliation can look it up.
    """
    account = adapter.account
    key = _provider_key(payment, account, operation)
    attempt = PaymentAttempt.objects.create(
        payment=payment,
        account=account,
        operation=operation,
        idempotency_key=key,
        provider_reference=reference[:255],
    )
    started = time.monotonic()
    try:
        result = call(key)
    except ProviderError as error:
        _attempt_finish(attempt, started, outcome=str(error.outcome), error=error)
        if error.outcome == Outcome.UNKNOWN:
            # The account may hold the charge: reconciliation must ask it.
            Payment.objects.filter(pk=payment.pk, account__isnull=True).update(
                account=account
            )
            if reference:
                Payment.objects.filter(
                    pk=payment.pk, account=account, provider_reference=""
                ).update(provider_reference=reference[:255])
        raise
    # A capture the provider keeps as its own object (Braintree's partial
    # settlement) is recorded by its own reference.
    reference = (
        getattr(result, "capture_reference", "")
        or getattr(result, "provider_reference", "")
        or reference
    )
    _attempt_finish(
        attempt, started, outcome=AttemptOutcome.SUCCEEDED, reference=reference
    )
    return result


def _attempt_finish(
    attempt: PaymentAttempt,
    started: float,
    *,
    outcome: str,
    error: ProviderError | None = None,
    reference: str = "",
) -> None:
    fields: dict[str, Any] = {}
    if reference:
        # Never blank out a reference stored before the call.
        fields["provider_reference"] = reference[:255]
    PaymentAttempt.objects.filter(pk=attempt.pk).update(
        outcome=outcome,
        error_code=error.code[:64] if error else "",
        error_message=error.message[:255] if error else "",
        duration_ms=int((time.monotonic() - started) * 1000),
        finished_at=timezone.now(),
        **fields,
    )


def _adapter(account: ProviderAccount) -> PaymentsAdapter:
    adapter = registry.get_adapter(account)
    assert isinstance(adapter, PaymentsAdapter)
    return adapter
