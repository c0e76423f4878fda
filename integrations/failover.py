"""Run one operation over the enabled accounts of a kind, in priority order.

The accounts are read fresh on every run, so a priority or ``enabled`` change
made in the admin applies to the very next request. An account whose breaker
is open is skipped without a call (the pre-check may use a read this process
made within ``RECENT_BREAKER_SECONDS``; the client's check before the call is
always fresh, so a stale "closed" costs only the work before the call). The
run moves on to the next account only after a ``not_processed`` error, the one
outcome that proves the provider did nothing:

- ``unknown`` stops the run with FailoverUnknown: the operation may have taken
  effect, and trying elsewhere could do it twice;
- ``rejected`` stops the run with FailoverRejected: another provider would
  not make a declined card valid;
- every account ``not_processed`` (or none enabled) gives NoProviderAvailable.

Each error carries ``attempts``, one entry per account considered.
"""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, NamedTuple, TypeVar

from integrations import registry
from integrations.breaker import breaker_for
from integrations.client.fallback import fallback_ready
from integrations.crypto import CredentialsDecryptError, credentials_unreadable
from integrations.errors import (
    NotProcessed,
    Outcome,
    ProviderError,
    Rejected,
    Unknown,
)
from integrations.models import ProviderAccount
from integrations.row_sql import rows_select, rows_select_statement
from integrations.store_guard import gated

if TYPE_CHECKING:
    from integrations.providers.base import BaseAdapter

logger = logging.getLogger(__name__)

T = TypeVar("T")

SUCCEEDED = "succeeded"
# How old a breaker read the pre-check may use: about one payment or message.
RECENT_BREAKER_SECONDS = 0.1


class Attempt(NamedTuple):
    account: str  # slug
    outcome: str  # "succeeded" or an Outcome value
    code: str
    message: str


@dataclass(frozen=True)
class FailoverResult(Generic[T]):
    result: T
    account: ProviderAccount
    attempts: list[Attempt] = field(default_factory=list)


class FailoverError(ProviderError):
    """A failover run that ended without a result; ``attempts`` says why."""

    def __init__(
        self, message: str, *, attempts: list[Attempt], cause: ProviderError | None
    ) -> None:
        super().__init__(
            message,
            code=cause.code if cause else None,
            http_status=cause.http_status if cause else None,
            retry_after=cause.retry_after if cause else None,
            provider_code=cause.provider_code if cause else None,
        )
        self.attempts = attempts
        self.cause = cause


class FailoverUnknown(FailoverError, Unknown):
    """An account may have performed the operation: reconcile, don't retry."""


class FailoverRejected(FailoverError, Rejected):
    """An account refused the operation; its reason is this error's message."""


class NoProviderAvailable(FailoverError, NotProcessed):
    """No account performed the operation: safe to try again later."""

    default_code = "no_provider_available"


def run_with_failover(
    kind: str,
    operation: Callable[["BaseAdapter"], T],
    *,
    operation_name: str,
    accounts: Sequence[ProviderAccount] | None = None,
    breaker_max_age: float | None = RECENT_BREAKER_SECONDS,
) -> FailoverResult[T]:
    """Call ``operation(adapter)`` for each enabled account of ``kind`` until
    one returns. See the module docstring for when the run stops.

    ``accounts``: the candidates, in order, as ``enabled_accounts(kind)``
    read them a moment ago (batch work reading them once per chunk); by
    default they are read now. ``breaker_max_age``: the pre-check may take a
    breaker state this process read that recently (None: read it now). The
    pre-check only spares the work before a call the breaker would refuse;
    the client's own check before the call is always fresh and decides."""
    attempts: list[Attempt] = []
    candidates = enabled_accounts(kind) if accounts is None else list(accounts)
    for position, account in enumerate(candidates, start=1):
        error = breaker_skip_reason(account, breaker_max_age)
        if error is None:
            try:
                later = candidates[position:]
                with fallback_ready(lambda later=later: _any_usable(later)):
                    result = operation(registry.get_adapter(account))
            except ProviderError as exc:
                error = exc
            except registry.ACCOUNT_UNCALLABLE as exc:
                # One misconfigured account must not stop the others; its
                # credentials read before its call (Stripe's SDK client, a
                # header) fail before anything went out.
                error = uncallable_error(exc)
            else:
                attempts.append(Attempt(account.slug, SUCCEEDED, "", ""))
                _log_served(kind, operation_name, account, attempts)
                return FailoverResult(result, account, attempts)
        attempts.append(
            Attempt(account.slug, str(error.outcome), error.code, error.message)
        )
        _log_attempt(kind, operation_name, account, error)
        if error.outcome != Outcome.NOT_PROCESSED:
            raise _stop(error, account, attempts) from error
    raise NoProviderAvailable(
        f"no {kind} account could perform {operation_name}",
        attempts=attempts,
        cause=None,
    )


def uncallable_error(exc: Exception) -> NotProcessed:
    """An account this deploy cannot call (``registry.ACCOUNT_UNCALLABLE``)
    as the not-processed outcome its failover attempt records."""
    if isinstance(exc, CredentialsDecryptError):
        return credentials_unreadable(exc)
    return NotProcessed(str(exc), code="configuration_error")


def enabled_accounts(kind: str) -> list[ProviderAccount]:
    """The enabled accounts of ``kind`` in failover order, read now: the
    admin's current order for this request. One hand-built SELECT, loaded
    as the ORM loads rows (a queryset cost more than the read)."""
    return rows_select(ProviderAccount, _ENABLED, [kind], order_by=_FAILOVER_ORDER)


_ENABLED = '"kind" = %s AND "enabled"'
_FAILOVER_ORDER = ("priority", "id")


def enabled_accounts_statement(kind: str) -> tuple[str, list[str]]:
    """The (sql, params) ``enabled_accounts(kind)`` sends, to send it ahead."""
    return rows_select_statement(
        ProviderAccount, _ENABLED, [kind], order_by=_FAILOVER_ORDER
    )


def _any_usable(accounts: list[ProviderAccount]) -> bool:
    """Whether a later account could take over (its breaker is not open):
    only then does an unreachable one give up its retries."""
    return any(breaker_skip_reason(account) is None for account in accounts)


def breaker_skip_reason(
    account: ProviderAccount, max_age: float | None = None
) -> NotProcessed | None:
    """Why ``account`` is skipped (its breaker refuses calls), or None. Redis
    unreachable: decided as the client's gate does (``store_guard.gated``):
    tried, unless staff forced it open or this process last read it open."""
    breaker = breaker_for(account)
    try:
        is_open = gated(
            # A remembered "open" is read again before the account is skipped:
            # it may have closed since, and skipping it could leave no account.
            lambda: (
                breaker.is_open(max_age=max_age)
                and (max_age is None or breaker.is_open())
            ),
            paced=False,
            breaker=breaker,
            claim=False,  # the client's gate takes the one try, not this look
        )
    except NotProcessed as exc:
        return exc
    if is_open is True:
        return NotProcessed("circuit breaker open; skipped", code="breaker_open")
    return None


def _stop(
    error: ProviderError, account: ProviderAccount, attempts: list[Attempt]
) -> FailoverError:
    if error.outcome == Outcome.REJECTED:
        return FailoverRejected(error.message, attempts=attempts, cause=error)
    return FailoverUnknown(
        f"outcome unknown at {account.slug}: {error.message}",
        attempts=attempts,
        cause=error,
    )


def _log_attempt(
    kind: str, operation_name: str, account: ProviderAccount, error: ProviderError
) -> None:
    level = logging.INFO if error.outcome == Outcome.REJECTED else logging.WARNING
    logger.log(
        level,
        "failover attempt failed",
        extra={
            "kind": kind,
            "operation": operation_name,
            "account": account.slug,
            "outcome": str(error.outcome),
            "error_code": error.code,
        },
    )


def _log_served(
    kind: str,
    operation_name: str,
    account: ProviderAccount,
    attempts: list[Attempt],
) -> None:
    logger.info(
        "failover run served",
        extra={
            "kind": kind,
            "operation": operation_name,
            "account": account.slug,
            "attempt_count": len(attempts),
        },
    )
