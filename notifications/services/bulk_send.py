"""Sending one recipient of a bulk send: the batch job's row handler.

A provider call cannot share a transaction with the row's "done" (a worker
killed after the call and before the commit would send again), so the
handler runs outside the row's transaction (``own_transactions``) and keeps
a marker on the recipient's message, one per ``bulk:<send>:<row>``
idempotency key:

1. the message is created (rendered, suppressions checked) already
   ``sending`` and committed, before the provider is called (a message
   found ``queued``, handed back by pacing, is claimed ``queued ->
   sending`` first);
2. the outcome (sent / failed / unknown) is committed after the call;
   ``sent`` and the row's done without waiting for the disk, as losing
   them in a database crash only makes the row be worked again.

What a chunk's rows need is read once per chunk (``bulk_chunk``). A row
whose address another row of its send sends (two spellings the release
before stored) is done without a message (``bulk_duplicates``).

A row worked again (its worker died) finds the message as the last commit
left it: ``sending`` means the call may have gone out, so it becomes
``unknown`` and is never resent automatically; ``sent`` is not sent again.

Rate limits pace the send: the call waits for the account's shared limiter
and waits out a 429 (``pacing=True``); when that wait runs past its budget
the message goes back to ``queued`` (nothing was sent) and ``Pace`` makes
the whole job wait. Being rate-limited never fails over to another account.
A message only a paused account could send (the others refuse it for
good) waits alone (``Defer``): the job sends its other rows meanwhile.
"""

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from integrations.batch import (
    Defer,
    Pace,
    own_transactions,
    pace_seconds,
    relaxed_done,
)
from integrations.client import key_on_record
from integrations.errors import NotProcessed, Rejected
from integrations.failover import (
    FailoverRejected,
    FailoverUnknown,
    NoProviderAvailable,
    run_with_failover,
)
from integrations.models import ProviderAccount
from integrations.secrets_registry import staff_text
from notifications.models import (
    BulkRecipient,
    EmailMessage,
    EmailStatus,
)
from notifications.providers.base import EmailAdapter, OutboundEmail
from notifications.rendering import EmailRenderError
from notifications.services.bulk_chunk import (
    ChunkState,
    chunk_finish,
    chunk_prepare,
    idempotency_key,
    message_insert,
    record_sent,
    sending_event,
    state_for,
)
from notifications.services.failures import PERMANENT_REFUSALS, WORKER_LOST
from notifications.services.sending import (
    email_event_record,
    email_message_claim,
    email_message_finish,
    email_message_no_provider,
    email_outbound,
    email_refusal_note,
    failover_account,
    unexpected_error,
)

logger = logging.getLogger(__name__)

# Statuses a message found on a row worked again leaves as they are: the
# provider took it (events may have moved it on), or it was never to go.
_SETTLED_OK = frozenset(
    {
        EmailStatus.SENT,
        EmailStatus.DEFERRED,
        EmailStatus.DELIVERED,
        EmailStatus.BOUNCED,
        EmailStatus.COMPLAINED,
        EmailStatus.SUPPRESSED,
    }
)


@relaxed_done
@own_transactions
def bulk_recipient_send(row: BulkRecipient) -> None:
    """Send ``row``'s message once (see the module docstring). Raises Pace
    to make the job wait, Rejected to fail the row for good (refused,
    invalid, outcome unknown), NotProcessed to retry it after the backoff."""
    state = state_for(row)
    found = state.messages.get(row.pk)
    if found is None and row.pk in state.duplicates:
        # The send has this address in another row, which sends it: done
        # without a message, as a duplicate is kept once at creation.
        logger.info(
            "bulk recipient skipped as a duplicate",
            extra={"row_id": row.pk, "sent_by_row": state.duplicates[row.pk]},
        )
        return
    if found is None:
        try:
            message = message_insert(row, state, timezone.now())
        except EmailRenderError as error:
            # Its message is stored failed with it; the same input fails the
            # same way: no retry.
            raise Rejected(str(error), code=error.code) from None
        if message is not None:
            if message.status != EmailStatus.SUPPRESSED:
                # Stored by us: marker and all.
                _deliver(message, state.accounts(), first=True)
            return
        # Another worker stored it first (it held an expired lease; the
        # INSERT itself is never re-sent: integrations.db.execute_one).
        found = EmailMessage.objects.get(
            idempotency_key=idempotency_key(row.pk, state.bulk)
        )
    _work_found(found, state)


def _work_found(found: EmailMessage, state: ChunkState) -> None:
    """The row's message, stored when the row was worked before."""
    if found.status == EmailStatus.SUPPRESSED:
        return
    claimed = None
    if found.status == EmailStatus.QUEUED:
        # Handed back by pacing: the chunk's suppressions, read as it began,
        # say whether the address was suppressed meanwhile.
        claimed = email_message_claim(found.pk, suppressions=state.suppressions)
    if claimed is None:
        _settle_found(found.pk)
        return
    _deliver(claimed, state.accounts(), first=False)


# The batch job reads the chunk's suppressions and messages once, and links
# the messages to their rows once (integrations.batch chunk hooks).
bulk_recipient_send.prepare_chunk = chunk_prepare  # type: ignore[attr-defined]
bulk_recipient_send.finish_chunk = chunk_finish  # type: ignore[attr-defined]


def _settle_found(message_pk: int) -> None:
    """A message not ``queued``: this row was worked before. ``sending``
    means that worker died during the call: unknown, never resent."""
    now = timezone.now()
    with transaction.atomic():
        message = EmailMessage.objects.select_for_update().get(pk=message_pk)
        if message.status == EmailStatus.SENDING:
            message.status = EmailStatus.UNKNOWN
            message.last_error = "the worker stopped during the send"
            message.error_code = WORKER_LOST
            message.save(
                update_fields=["status", "last_error", "error_code", "updated_at"]
            )
            email_event_record(
                message,
                EmailStatus.UNKNOWN,
                {"code": WORKER_LOST, "reason": "worker lost"},
            )
            logger.warning(
                "bulk message outcome unknown after a lost worker",
                extra={"message_id": message.public_id, "at": now.isoformat()},
            )
    if message.status in _SETTLED_OK:
        return
    if message.status == EmailStatus.QUEUED:
        # Handed back by a paced worker meanwhile: try again later.
        raise NotProcessed("message queued again", code="requeued")
    raise _row_error(message.status, message.last_error)


def _deliver(
    message: EmailMessage, accounts: list[ProviderAccount], *, first: bool
) -> None:
    outbound = email_outbound(message)
    waits: list[float | None] = []
    try:
        # The marker row holds the key durably: no call-log pre-write.
        with key_on_record():
            served = run_with_failover(
                "email",
                lambda adapter: _paced_send(adapter, outbound, waits),
                operation_name="send_bulk",
                accounts=accounts,
            )
    except (Pace, FailoverRejected, FailoverUnknown, NoProviderAvailable) as error:
        if first:
            sending_event(message).save()
        raise _not_sent(message, error, waits) from None
    except Exception as exc:
        # Not a provider outcome (a bug): the call may have gone out, so
        # ``unknown`` now with its cause, as a single send keeps it, and the
        # row fails for good rather than be found ``sending`` later.
        if first:
            sending_event(message).save()
        error = unexpected_error(exc)
        email_message_finish(message, EmailStatus.UNKNOWN, error, None)
        logger.exception("bulk send raised", extra={"message_id": message.public_id})
        raise _row_error(EmailStatus.UNKNOWN, error.message) from None
    result_id = served.result.provider_message_id
    if record_sent(message, result_id, served.account, first=first):
        return
    # A webhook got there first (a fast bounce): the careful, ranked write.
    if first:
        sending_event(message).save()
    message.provider_message_id = result_id
    email_message_finish(message, EmailStatus.SENT, None, served.account)


def _not_sent(
    message: EmailMessage, error: Exception, waits: list[float | None]
) -> Exception:
    """Record why ``message`` did not go; the error its row ends with."""
    if isinstance(error, Pace):
        _requeue(message)
        return error
    if isinstance(error, FailoverRejected | FailoverUnknown):
        status = (
            EmailStatus.FAILED
            if isinstance(error, FailoverRejected)
            else EmailStatus.UNKNOWN
        )
        email_message_finish(message, status, error, failover_account(error))
        return _row_error(status, error.message)
    if isinstance(error, NoProviderAvailable):
        status, asked = email_message_no_provider(message, error, waits)
        if status == EmailStatus.FAILED:
            # The message's reason: an account's refusal of our setup, if any.
            return _row_error(EmailStatus.FAILED, message.last_error)
        if not asked:
            # No account that could send it was asked (breakers open, staff's
            # maintenance): the attempt given back, the row keeps its attempt
            # too, as a single send waits.
            return _wait_for_paused(error)
    return error  # no account now: the row retries after the backoff


def _wait_for_paused(error: NoProviderAvailable) -> Exception:
    """Every account skipped (paused) or refusing this message for good.
    With none refusing, every row meets the same pause: the job waits its
    pacing. With one refusing, the wait is this row's (the accounts that
    refused it send the others): it waits alone, each account's reason on
    it, and the rest of the send goes on. It is tried again as often as a
    single send waiting so is swept (``EMAIL_RETRY_AFTER_SECONDS``): many
    such rows must not each ask the refusing accounts every few seconds."""
    attempts = getattr(error, "attempts", None) or []
    if not any(attempt.code in PERMANENT_REFUSALS for attempt in attempts):
        return Pace()
    reasons = "; ".join(f"{a.account}: {a.message}" for a in attempts)
    return Defer(
        staff_text(f"waiting for a paused account: {reasons}"),
        settings.EMAIL_RETRY_AFTER_SECONDS,
    )


def _paced_send(
    adapter: Any, outbound: OutboundEmail, waits: list[float | None]
) -> Any:
    if not isinstance(adapter, EmailAdapter):
        raise TypeError("email account with a non-email adapter")
    try:
        return adapter.send(outbound, pacing=True)
    except NotProcessed as error:
        wait = pace_seconds(error)
        if wait is None:
            email_refusal_note(error, waits)
            raise
        # Not a ProviderError: it leaves the failover run, which would
        # otherwise move on to the next account.
        raise Pace(wait) from error


def _requeue(message: EmailMessage) -> None:
    """Paced: nothing went out. Queued again, the attempt given back."""
    EmailMessage.objects.filter(pk=message.pk, status=EmailStatus.SENDING).update(
        status=EmailStatus.QUEUED,
        sending_at=None,
        attempts=F("attempts") - 1,
        updated_at=timezone.now(),
    )


def _row_error(status: str, reason: str) -> Rejected:
    """The row's error for a message that will not be sent by us again."""
    code = "outcome_unknown" if status == EmailStatus.UNKNOWN else "send_failed"
    return Rejected(f"message {status}: {reason}"[:500], code=code)
