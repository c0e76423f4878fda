"""The keyed-attempt recorder: store the attempt with its idempotency key
before the provider call (committed, so the key survives a crash mid-call),
then record the outcome, error and duration after it.

Kind-neutral: it takes the domain's attempt model (a ``KeyedAttempt``
subclass) and the domain's own fields for the row (``{"payment": payment}``).
The caller chooses the key; the recorder never retries.

Inside an ``integrations.commits`` group the attempt joins the writes made
before it and all of them commit together just before the call; the result
joins the writes that follow it (the domain row, its outbox event, the
idempotency response), which commit when the group ends.
"""

import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.utils import timezone

from integrations.client.session import key_on_record
from integrations.commits import group_commit, group_join
from integrations.crypto import CredentialsDecryptError, credentials_unreadable
from integrations.errors import ProviderError
from integrations.models import ProviderAccount
from integrations.models.attempts import AttemptOutcome, KeyedAttempt
from integrations.row_new import row_new
from integrations.row_sql import row_insert_later, row_update_later
from integrations.secrets_registry import staff_text

T = TypeVar("T")


def result_reference(result: object) -> str:
    """The provider's reference on a typed result, or ``""``."""
    return str(getattr(result, "provider_reference", "") or "")


def attempt_run(
    model: type[KeyedAttempt],
    *,
    owner: dict[str, Any],
    account: ProviderAccount,
    operation: str,
    idempotency_key: str,
    call: Callable[[str], T],
    reference: str = "",
    reference_of: Callable[[T], str] = result_reference,
    on_error: Callable[[ProviderError], None] | None = None,
    db_clock: tuple[str, ...] = (),
) -> T:
    """Store an attempt of ``operation`` at ``account``, run ``call(key)``,
    record how it ended, and return its result.

    ``reference``: the provider reference known before the call, stored with
    the attempt. ``reference_of`` reads the reference from the result.
    ``on_error`` runs after a ProviderError is recorded and before it is
    re-raised (e.g. keep the account that may hold an unknown outcome).
    ``db_clock``: the attempt's stamps written with the database's time
    (``integrations.row_sql.row_insert``), for a domain that compares them
    across machines.
    """
    group_join()
    # Nothing refers to the row before the commit below: it rides with it.
    attempt = row_insert_later(
        row_new(
            model,
            **owner,
            account=account,
            operation=operation,
            idempotency_key=idempotency_key,
            provider_reference=reference[:255],
        ),
        db_clock=db_clock,
    )
    # The key (and whatever joined it) is durable before the provider sees it.
    group_commit()
    started = time.monotonic()
    try:
        result = _called(call, idempotency_key)
    except ProviderError as error:
        group_join()
        attempt_finish(attempt, started, outcome=str(error.outcome), error=error)
        if on_error is not None:
            on_error(error)
        raise
    group_join()
    attempt_finish(
        attempt,
        started,
        outcome=AttemptOutcome.SUCCEEDED,
        reference=reference_of(result) or reference,
    )
    return result


def _called(call: Callable[[str], T], key: str) -> T:
    try:
        with key_on_record():
            return call(key)
    except CredentialsDecryptError as exc:
        # Read before the call (an SDK client, a header): nothing went out,
        # so the attempt ends not processed, not left in flight.
        raise credentials_unreadable(exc) from None


_FINISHED_FIELDS = (
    "outcome",
    "error_code",
    "error_message",
    "duration_ms",
    "finished_at",
)


def attempt_finish(
    attempt: KeyedAttempt,
    started: float,
    *,
    outcome: str,
    error: ProviderError | None = None,
    reference: str = "",
) -> None:
    """Record the end of ``attempt`` (``started``: its ``time.monotonic()``)."""
    names = list(_FINISHED_FIELDS)
    if reference:
        # Never blank out a reference stored before the call.
        attempt.provider_reference = reference[:255]
        names.append("provider_reference")
    attempt.outcome = outcome
    attempt.error_code = error.code[:64] if error else ""
    # Staff read it; the provider's text may quote our credentials.
    attempt.error_message = staff_text(error.message)[:255] if error else ""
    attempt.duration_ms = int((time.monotonic() - started) * 1000)
    attempt.finished_at = timezone.now()
    # Nothing reads it back in this transaction: it may ride with the next
    # statement of a commit group (integrations.group_sql).
    row_update_later(attempt, names)
