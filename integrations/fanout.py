"""Run one operation on several accounts at once, under one deadline.

``run_on_accounts`` is failover's sibling for reads that every account can
answer (rate shopping: ask every carrier for a quote, keep the best). It calls
``operation(adapter)`` on every enabled account of a kind (or on the accounts
given), each in its own thread, and returns when all have answered or the
deadline passes, whichever comes first, with every result and one failure per
account that gave none. See docs/fanout.md.

- An account whose breaker is open is not called (no thread is started): its
  failure has reason ``breaker_open``.
- Each thread runs in a copy of the caller's context, so the correlation id
  goes with it, and inside a ``deadline_scope`` that ends with the run, so the
  account's provider calls (retries and back-off included) end by then too.
- The caller never waits past the deadline: threads still running are left
  behind (daemon threads, never joined); their accounts get reason
  ``timeout``. A thread closes the database connections it opened before it
  reports, so nothing it opened outlives it (a close that fails is logged;
  the answer is still reported).
"""

import contextvars
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Generic, TypeVar

from django.db import connections

from integrations import correlation, registry
from integrations.deadline import deadline_scope
from integrations.errors import Outcome, ProviderError, Unknown
from integrations.failover import (
    breaker_skip_reason,
    enabled_accounts,
    uncallable_error,
)
from integrations.models import ProviderAccount
from integrations.redis_line import close_thread_connections

if TYPE_CHECKING:
    from integrations.providers.base import BaseAdapter

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Codes that mean "no answer in time", whoever noticed first: the provider
# client (the run's deadline clamps its timeouts) or the runner.
TIMEOUT_CODES = frozenset({"read_timeout", "connect_timeout", "deadline_exceeded"})


class FailureReason(StrEnum):
    TIMEOUT = "timeout"
    BREAKER_OPEN = "breaker_open"
    ERROR = "error"


@dataclass(frozen=True)
class AccountResult(Generic[T]):
    account: str  # slug
    account_id: int
    result: T
    duration_ms: int


@dataclass(frozen=True)
class AccountFailure:
    account: str  # slug
    account_id: int
    outcome: str  # an Outcome value
    code: str
    message: str
    reason: FailureReason


@dataclass(frozen=True)
class FanOutResult(Generic[T]):
    """Results and failures in the accounts' order (priority, then id)."""

    results: tuple[AccountResult[T], ...]
    failures: tuple[AccountFailure, ...]


@dataclass(frozen=True)
class _Answer:
    index: int
    result: object = None
    error: ProviderError | None = None
    duration_ms: int = 0


def run_on_accounts(
    kind: str,
    operation: Callable[["BaseAdapter"], T],
    *,
    operation_name: str,
    deadline_seconds: float,
    accounts: Sequence[ProviderAccount] | None = None,
) -> FanOutResult[T]:
    """Call ``operation(adapter)`` on every enabled account of ``kind`` (or on
    ``accounts``, in their order) at once; return within ``deadline_seconds``.
    """
    if deadline_seconds <= 0:
        raise ValueError("deadline_seconds must be positive")
    chosen = _candidates(kind) if accounts is None else list(accounts)
    if any(account.kind != kind for account in chosen):
        raise ValueError(f"every account must be of kind {kind!r}")
    failures: dict[int, AccountFailure] = {}
    answers: queue.SimpleQueue[_Answer] = queue.SimpleQueue()
    with ExitStack() as stack:
        if correlation.get() is None:
            # One id for the whole run, so its calls can be found together.
            stack.enter_context(correlation.bind(None))
        end = stack.enter_context(deadline_scope(deadline_seconds))
        started = 0
        for index, account in enumerate(chosen):
            # Redis unreachable: decided as failover does (store_guard).
            skipped = breaker_skip_reason(account)
            if skipped is not None:
                failures[index] = _failure(account, skipped)
                continue
            _start(index, account, operation, answers)
            started += 1
        collected = _collect(answers, started, end)
    return _assemble(kind, operation_name, chosen, failures, collected)


def _candidates(kind: str) -> list[ProviderAccount]:
    # Read now: the admin's current set of accounts for this request.
    return enabled_accounts(kind)


def _start(
    index: int,
    account: ProviderAccount,
    operation: Callable[["BaseAdapter"], T],
    answers: "queue.SimpleQueue[_Answer]",
) -> None:
    # One copy per thread: a context cannot be entered by two threads at once.
    context = contextvars.copy_context()
    thread = threading.Thread(
        target=context.run,
        args=(_work, index, account, operation, answers),
        name=f"fanout-{account.slug}",
        daemon=True,  # a hung provider must not keep the process alive
    )
    thread.start()


def _work(
    index: int,
    account: ProviderAccount,
    operation: Callable[["BaseAdapter"], T],
    answers: "queue.SimpleQueue[_Answer]",
) -> None:
    started = time.monotonic()
    try:
        result, error = _call(account, operation)
    finally:
        _close_connections()
    duration_ms = round((time.monotonic() - started) * 1000)
    answers.put(_Answer(index, result, error, duration_ms))


def _close_connections() -> None:
    # Connections are per thread: nobody else can ever close these. A failure
    # here is logged, never raised: it would lose the answer already in hand.
    for close in (connections.close_all, close_thread_connections):
        try:
            close()
        except Exception:
            logger.warning("fan-out thread could not close connections", exc_info=True)


def _call(
    account: ProviderAccount, operation: Callable[["BaseAdapter"], T]
) -> tuple[T | None, ProviderError | None]:
    try:
        return operation(registry.get_adapter(account)), None
    except ProviderError as exc:
        return None, exc
    except registry.ACCOUNT_UNCALLABLE as exc:
        # One misconfigured account must not hide the others' answers.
        return None, uncallable_error(exc)
    except Exception:
        # A bug in an adapter or operation: the traceback goes to the log,
        # only a generic message to the result (it may reach a response).
        logger.exception("fan-out operation raised", extra={"account": account.slug})
        return None, Unknown(
            "unexpected error in the operation", code="unexpected_error"
        )


def _collect(
    answers: "queue.SimpleQueue[_Answer]", expected: int, end: float
) -> dict[int, _Answer]:
    """The answers that arrive before ``end`` (on time.monotonic)."""
    collected: dict[int, _Answer] = {}
    while len(collected) < expected:
        left = end - time.monotonic()
        if left <= 0:
            break
        try:
            answer = answers.get(timeout=left)
        except queue.Empty:
            break
        collected[answer.index] = answer
    return collected


def _assemble(
    kind: str,
    operation_name: str,
    chosen: list[ProviderAccount],
    failures: dict[int, AccountFailure],
    collected: dict[int, _Answer],
) -> FanOutResult[T]:
    results: list[AccountResult[T]] = []
    for index, account in enumerate(chosen):
        if index in failures:
            continue
        answer = collected.get(index)
        if answer is None:
            failures[index] = _timed_out(account)
        elif answer.error is not None:
            failures[index] = _failure(account, answer.error)
        else:
            results.append(
                AccountResult(
                    account.slug, account.pk, answer.result, answer.duration_ms
                )
            )
    ordered = tuple(failures[i] for i in sorted(failures))
    for failure in ordered:
        _log_failure(kind, operation_name, failure)
    logger.info(
        "fan-out run finished",
        extra={
            "kind": kind,
            "operation": operation_name,
            "account_count": len(chosen),
            "result_count": len(results),
            "failure_count": len(ordered),
        },
    )
    return FanOutResult(tuple(results), ordered)


def _failure(account: ProviderAccount, error: ProviderError) -> AccountFailure:
    reason = FailureReason.ERROR
    if error.code in TIMEOUT_CODES:
        reason = FailureReason.TIMEOUT
    elif error.code == "breaker_open":
        reason = FailureReason.BREAKER_OPEN  # it opened while we were starting
    return AccountFailure(
        account.slug,
        account.pk,
        str(error.outcome),
        error.code,
        error.message,
        reason,
    )


def _timed_out(account: ProviderAccount) -> AccountFailure:
    # The request may be on its way or done at the provider: unknown.
    return AccountFailure(
        account.slug,
        account.pk,
        str(Outcome.UNKNOWN),
        "deadline_exceeded",
        "no answer before the fan-out deadline",
        FailureReason.TIMEOUT,
    )


def _log_failure(kind: str, operation_name: str, failure: AccountFailure) -> None:
    level = logging.INFO if failure.outcome == Outcome.REJECTED else logging.WARNING
    logger.log(
        level,
        "fan-out account failed",
        extra={
            "kind": kind,
            "operation": operation_name,
            "account": failure.account,
            "outcome": failure.outcome,
            "error_code": failure.code,
            "reason": str(failure.reason),
        },
    )
