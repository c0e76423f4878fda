"""Sending one message: validate, check suppressions, render, store, then
send from a task on commit with failover across the email accounts.

A message moves queued -> sending -> sent / failed / unknown. The move to
``sending`` commits before the provider is called, so a worker that dies
mid-send leaves it ``sending``; the sweeper then marks it ``unknown``
(the provider may have it) and never sends it again on its own. A message
still ``queued`` (its task lost, or no provider available) is enqueued again.
"""

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from integrations.batch import defer_seconds
from integrations.client import key_on_record
from integrations.clock import database_now
from integrations.errors import NotProcessed, Unknown
from integrations.failover import (
    FailoverRejected,
    FailoverUnknown,
    NoProviderAvailable,
    run_with_failover,
)
from integrations.models import ProviderAccount
from integrations.secrets_registry import staff_text
from integrations.task_batcher import enqueue_failed, shared_broker
from notifications.models import (
    STATUS_RANK,
    BulkSend,
    EmailEvent,
    EmailMessage,
    EmailStatus,
    Suppression,
    SuppressionReason,
    normalise_address,
)
from notifications.providers.base import (
    EmailAdapter,
    EmailCategory,
    OutboundEmail,
    recipient_stop,
)
from notifications.rendering import render_email
from notifications.services.bulk_cancel import bulk_cancelled_messages_end
from notifications.services.checks import (
    email_address_check,
    email_category_check,
    email_header_value_check,
)
from notifications.services.failures import (
    MISCONFIGURED,
    PERMANENT_REFUSALS,
    WORKER_LOST,
    misconfigured_marked,
    refused_everywhere,
    telling_reason,
)
from notifications.services.limits import SUBJECT_EMPTY, email_subject_check
from notifications.services.suppressions import (
    ProviderOrigin,
    suppression_active,
    suppression_blocks,
    suppression_provider_stop,
    suppression_reason_blocks,
)
from notifications.unsubscribe import unsubscribe_headers, unsubscribe_url

logger = logging.getLogger(__name__)

DELIVER_TASK = "notifications.tasks.deliver_email"


def email_message_create(
    *,
    to: str,
    template: str,
    context: dict[str, Any] | None = None,
    category: str = EmailCategory.TRANSACTIONAL,
    from_email: str = "",
    idempotency_key: str = "",
    order_id: str = "",
    bulk_send: BulkSend | None = None,
    enqueue: bool = True,
    subject_check: bool = True,
) -> EmailMessage:
    """Store a rendered message and send it after commit (suppressed: stored,
    nothing sent). EmailInvalid or EmailRenderError before anything is
    stored; ``subject_check=False``: an empty subject is left to failover."""
    to = email_address_check(to)
    email_category_check(category)
    email_header_value_check(order_id, param="order_id")
    if (existing := _existing(idempotency_key)) is not None:
        return existing
    context = dict(context or {})
    headers: dict[str, str] = {}
    if category == EmailCategory.MARKETING:
        context.setdefault("unsubscribe_url", unsubscribe_url(to))
        headers = unsubscribe_headers(to)
    rendered = render_email(template, context)
    if subject_check:
        email_subject_check(rendered.subject)
    blocked = suppression_blocks(to, category)
    fields = {
        "to_email": to,
        "from_email": from_email or settings.EMAIL_DEFAULT_FROM,
        "template": template,
        "context": context,
        "subject": rendered.subject,
        "text_body": rendered.text,
        "html_body": rendered.html,
        "headers": headers,
        "category": category,
        "idempotency_key": idempotency_key,
        "order_id": order_id,
        "bulk_send": bulk_send,
        "status": EmailStatus.SUPPRESSED if blocked else EmailStatus.QUEUED,
    }
    return _store(fields, blocked, enqueue=enqueue)


def _store(
    fields: dict[str, Any], blocked: Suppression | None, *, enqueue: bool
) -> EmailMessage:
    """Insert the message with its first event, enqueued on commit unless
    suppressed; the one a concurrent request stored under its key first."""
    key = fields["idempotency_key"]
    try:
        with transaction.atomic():
            message = EmailMessage.objects.create(**fields)
            details = {"suppression": blocked.get_reason_display()} if blocked else {}
            email_event_record(message, message.status, details)
            if enqueue and not blocked:
                email_message_enqueue(message)
    except IntegrityError:
        if not key:
            raise
        return EmailMessage.objects.get(idempotency_key=key)
    extra = {"message_id": message.public_id, "status": message.status}
    logger.info("email stored", extra=extra)
    return message


def _existing(idempotency_key: str) -> EmailMessage | None:
    if not idempotency_key:
        return None
    return EmailMessage.objects.filter(idempotency_key=idempotency_key).first()


def email_message_enqueue(message: EmailMessage) -> None:
    """Send ``message`` from a task once the current transaction commits."""
    email_messages_enqueue([message.pk])


def email_messages_enqueue(pks: Iterable[int]) -> None:
    """Send the messages of ``pks`` from tasks once the current transaction
    commits, one task each."""
    for pk in pks:
        transaction.on_commit(partial(_enqueue, pk))


def _enqueue(pk: int) -> None:
    try:
        async_task(DELIVER_TASK, pk, broker=shared_broker())
    except Exception as exc:
        # The row is stored: the sweeper enqueues it again.
        enqueue_failed("email", exc, {"email_pk": pk})


def email_message_deliver(*, message_pk: int) -> str:
    """Send a queued message through the email accounts in priority order;
    the message's status afterwards. Anything not ``queued`` is left alone,
    so a task run twice sends once."""
    message = email_message_claim(message_pk)
    if message is None:
        current = EmailMessage.objects.filter(pk=message_pk).first()
        return current.status if current else ""
    outbound = email_outbound(message)
    waits: list[float | None] = []
    try:
        # The claimed row (status sending) holds the key: no call-log pre-write.
        with key_on_record():
            served = run_with_failover(
                "email",
                lambda adapter: _send(adapter, outbound, waits),
                operation_name="send",
            )
    except FailoverRejected as error:
        return email_message_finish(
            message, EmailStatus.FAILED, error, failover_account(error)
        )
    except FailoverUnknown as error:
        return email_message_finish(
            message, EmailStatus.UNKNOWN, error, failover_account(error)
        )
    except NoProviderAvailable as error:
        return email_message_no_provider(message, error, waits)[0]
    except Exception as exc:
        # Not a provider outcome (a bug, a misconfigured account): the call
        # may have gone out, so ``unknown`` (never resent), with the cause kept.
        email_message_finish(message, EmailStatus.UNKNOWN, unexpected_error(exc), None)
        raise
    message.provider_message_id = served.result.provider_message_id
    return email_message_finish(message, EmailStatus.SENT, None, served.account)


def email_message_no_provider(
    message: EmailMessage, error: NoProviderAvailable, waits: list[float | None]
) -> tuple[str, bool]:
    """``email_message_retry_later`` for a run no account took ``message``
    in, ``waits`` noted by ``email_refusal_note``: the new status, and
    whether the try spent an attempt (an account that could send it was
    asked). The one rule for single and bulk sends."""
    misconfigured_marked(error)
    asked = _asked(error, waits)
    wait = _wait(error, waits)
    return email_message_retry_later(message, error, wait=wait, asked=asked), asked


def email_refusal_note(error: NotProcessed, waits: list[float | None]) -> None:
    """Note in ``waits`` how long the account that raised ``error`` (nothing
    taken) asked us to wait (0: no Retry-After; None: it never will)."""
    # An empty subject is refused before any call: like an open breaker,
    # the account was not asked and leaves the message its attempt.
    if error.code != SUBJECT_EMPTY:
        permanent = error.code in PERMANENT_REFUSALS
        waits.append(None if permanent else error.retry_after or 0.0)


def _asked(error: NoProviderAvailable, waits: list[float | None]) -> bool:
    # Whether the try spends an attempt: an account that could still send
    # the message was given it. One that refused it for good (None) cannot:
    # with every other one skipped (its breaker open, maintenance) the
    # message waits for them, as it would without that account.
    if refused_everywhere(error):
        return bool(waits)  # failed now, its one attempt counted
    # An account unusable as set up (its adapter not even built, so not in
    # ``waits``) is a failed attempt: spent, so a fault never mended ends.
    misconfigured = any(a.code == MISCONFIGURED for a in error.attempts)
    return misconfigured or any(wait is not None for wait in waits)


def _wait(error: NoProviderAvailable, waits: list[float | None]) -> float | None:
    # The earliest Retry-After, when every account was asked: one skipped
    # (its breaker open) may take the message sooner; one that refused it for
    # good (PERMANENT_REFUSALS) never will, so it does not count.
    could = [a for a in error.attempts if a.code not in PERMANENT_REFUSALS]
    timed = [wait for wait in waits if wait is not None]
    if not timed or len(timed) != len(could):
        return None
    return min(timed)


def unexpected_error(exc: Exception) -> Unknown:
    """What a send that raised no provider outcome is kept with: the call
    may have gone out (``unknown``), the cause named for staff."""
    return Unknown(f"{type(exc).__name__}: {exc}"[:500], code="unexpected_error")


def _send(adapter: Any, outbound: OutboundEmail, waits: list[float | None]) -> Any:
    """One account's send; ``waits`` gets how long an account that took
    nothing asked us to wait (0: no Retry-After; None: it never will)."""
    if not isinstance(adapter, EmailAdapter):
        raise TypeError("email account with a non-email adapter")
    try:
        return adapter.send(outbound)
    except NotProcessed as error:
        email_refusal_note(error, waits)
        raise


def email_outbound(message: EmailMessage) -> OutboundEmail:
    """What every adapter is given for ``message``."""
    metadata = {"order_id": message.order_id} if message.order_id else {}
    return OutboundEmail(
        to=message.to_email,
        from_email=message.from_email,
        subject=message.subject,
        text=message.text_body,
        html=message.html_body,
        message_id=message.public_id,
        category=EmailCategory(message.category),
        headers=dict(message.headers),
        tags=(message.template,),
        metadata=metadata,
    )


def email_message_claim(
    pk: int, *, suppressions: Mapping[str, str] | None = None
) -> EmailMessage | None:
    """Move a queued message to ``sending`` (committed); None if not queued,
    or if its address was suppressed since it was stored (it becomes
    ``suppressed``). ``suppressions`` (normalised address -> reason, read
    by the caller for a whole batch) saves the look-up."""
    with transaction.atomic():
        message = (
            EmailMessage.objects.select_for_update()
            .filter(pk=pk, status=EmailStatus.QUEUED)
            .first()
        )
        if message is None:
            return None
        if suppressions is not None:
            reason = suppressions.get(normalise_address(message.to_email))
        else:
            found = suppression_active(message.to_email)
            reason = found.reason if found is not None else None
        if suppression_reason_blocks(reason, message.category):
            _suppress_queued(message, str(reason))
            return None
        message.status = EmailStatus.SENDING
        message.sending_at = timezone.now()
        message.attempts += 1
        # Its next try is this one; set again while it is sending, it marks
        # a wake-up during the send (``waking.email_waiting_wake``).
        message.retry_at = None
        fields = ["status", "sending_at", "attempts", "retry_at", "updated_at"]
        message.save(update_fields=fields)
    return message


def _suppress_queued(message: EmailMessage, reason: str) -> None:
    message.status = EmailStatus.SUPPRESSED
    message.save(update_fields=["status", "updated_at"])
    label = dict(SuppressionReason.choices).get(reason, reason)
    email_event_record(message, EmailStatus.SUPPRESSED, {"suppression": label})
    logger.info(
        "queued email suppressed before sending",
        extra={"message_id": message.public_id},
    )


def failover_account(error: Any) -> ProviderAccount | None:
    """The account a failover error's last attempt was made on."""
    attempts = getattr(error, "attempts", None) or []
    if not attempts:
        return None
    return ProviderAccount.objects.filter(slug=attempts[-1].account).first()


def email_message_finish(
    message: EmailMessage,
    status: str,
    error: Any,
    account: ProviderAccount | None,
) -> str:
    """Record the send's outcome. A provider webhook may have been applied
    meanwhile (a fast bounce): its status is kept when it ranks higher."""
    now = timezone.now()
    with transaction.atomic():
        current = EmailMessage.objects.select_for_update().get(pk=message.pk)
        text = staff_text(error.message) if error is not None else ""
        if STATUS_RANK[status] > STATUS_RANK[current.status]:
            current.status = status
            current.last_error = text
            current.error_code = error.code[:64] if error is not None else ""
        # Else the provider's event settled it first: its status and cleared
        # error stand; the send's error stays on the send's own event.
        current.account = account
        # Really tried: no next try, and a later pause starts afresh.
        current.defers, current.retry_at = 0, None
        current.provider_message_id = message.provider_message_id
        if status == EmailStatus.SENT:
            current.sent_at = now
        current.save()
        details: dict[str, Any] = {"account": account.slug if account else ""}
        if error is not None:
            details.update(code=error.code, reason=text)
        email_event_record(current, status, details)
        stop = recipient_stop(error) if status == EmailStatus.FAILED else None
        if stop is not None and account is not None:
            _provider_stop(current, stop.suppressed_for, stop.stream, account, now)
    log = logger.info if status == EmailStatus.SENT else logger.warning
    log(
        "email send finished",
        extra={"message_id": message.public_id, "status": status},
    )
    return current.status


def _provider_stop(
    message: EmailMessage,
    reason: str,
    stream: str,
    account: ProviderAccount,
    now: datetime,
) -> None:
    # The provider refused the address for its own list (Postmark's 406):
    # stopped here too, as its webhook's stop would be, so its reactivation
    # of that list lifts it.
    suppression_provider_stop(
        address=message.to_email,
        reason=reason,
        source=message.public_id,
        origin=ProviderOrigin(account_id=account.pk, stream=stream, occurred_at=now),
    )


def email_message_retry_later(
    message: EmailMessage,
    error: NoProviderAvailable,
    *,
    wait: float | None = None,
    asked: bool = True,
) -> str:
    """Back to ``queued`` after no account could send, or ``failed`` once
    out of attempts; the new status. ``wait``: the seconds every account
    that was asked wants us to wait at least (Retry-After); the sweeper
    tries the message again no sooner. ``asked=False``: open breakers met
    the message and no provider that could send it was given it (beside
    them, only accounts that refused it for good), so the attempt is given back
    (it waits for them, as a storefront webhook delivery does). A message
    every account refused for good (its empty subject, one it cannot carry)
    fails at once."""
    if not asked:
        message.attempts -= 1
    give_up = refused_everywhere(error) or (
        asked and message.attempts >= settings.EMAIL_MAX_ATTEMPTS
    )
    status = EmailStatus.FAILED if give_up else EmailStatus.QUEUED
    with transaction.atomic():
        # A give-up always records its ``failed``, even after a pause.
        repeat = not (asked or give_up) and _last_event_type(message) == "retry"
        code, text = telling_reason(error)
        message.status = status
        message.last_error = staff_text(text)
        message.error_code = code[:64]
        _next_try(message, wait=wait, asked=asked, give_up=give_up)
        fields = ["status", "attempts", "last_error", "error_code", "retry_at"]
        message.save(update_fields=[*fields, "defers", "updated_at"])
        if not repeat:  # one "retry" for a pause, not one a minute
            email_event_record(
                message,
                status if give_up else "retry",
                {"code": code, "reason": message.last_error},
            )
    logger.warning(
        "email send found no provider",
        extra={"message_id": message.public_id, "attempts": message.attempts},
    )
    return status


def _next_try(
    message: EmailMessage, *, wait: float | None, asked: bool, give_up: bool
) -> None:
    """Set when the sweeper may try ``message`` again (``retry_at``, by the
    database's clock, which the sweep reads): after ``wait`` if the asked
    accounts want one; a single send no account that could send it was asked
    for (paused) after EMAIL_RETRY_AFTER_SECONDS, doubling with each wait in
    a row up to BATCH_DEFER_MAX_SECONDS, as a bulk row waiting alone
    (``defer_seconds``): a long pause is not asked about every minute. A
    real attempt (``asked``) ends the run of waits; a message given up on
    has no next try."""
    message.retry_at = None
    if asked:
        message.defers = 0
    if give_up:
        return
    if not asked and message.bulk_send_id is None:
        if _woken_while_sending(message):
            # An account is usable again since this try met the pause: tried
            # again now, not after a fresh wait (the wake-up found it sending).
            message.retry_at = database_now()
            transaction.on_commit(partial(_enqueue, message.pk))
            return
        # A bulk send's message waits with its row (the row's next try).
        base = float(settings.EMAIL_RETRY_AFTER_SECONDS)
        wait = defer_seconds(base, message.defers)
        message.defers += 1
    if wait:
        message.retry_at = database_now() + timedelta(seconds=wait)


def _woken_while_sending(message: EmailMessage) -> bool:
    """Whether a wake-up marked ``message`` while it was sending (its row
    locked: a wake-up now waits for this try's wait, then finds it queued)."""
    found = (
        EmailMessage.objects.select_for_update()
        .filter(pk=message.pk, status=EmailStatus.SENDING)
        .values_list("retry_at", flat=True)
        .first()
    )
    return found is not None


def _last_event_type(message: EmailMessage) -> str:
    last = message.events.order_by("-pk").values_list("type", flat=True).first()
    return last or ""


def email_event_record(
    message: EmailMessage, kind: str, details: dict[str, Any]
) -> None:
    """One of our own events (queued, sent, failed, ...) on ``message``."""
    EmailEvent.objects.create(message=message, type=kind, details=details)


def email_messages_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Enqueue queued messages left alone too long (and past the Retry-After
    their providers asked for); mark messages stuck in ``sending`` (their
    worker died) unknown, never to be resent by us; end the queued messages
    of cancelled bulk sends (``bulk_cancel``)."""
    # ``retry_at`` is the database's time (``_next_try``), read by its clock.
    due_at = now or database_now()
    now = now or timezone.now()
    retry_before = now - timedelta(seconds=settings.EMAIL_RETRY_AFTER_SECONDS)
    queued = list(
        EmailMessage.objects.filter(
            # A bulk send's messages are sent by its batch job, not here.
            status=EmailStatus.QUEUED,
            updated_at__lt=retry_before,
            bulk_send__isnull=True,
        )
        .filter(Q(retry_at__isnull=True) | Q(retry_at__lte=due_at))
        .values_list("pk", flat=True)[:1000]
    )
    for pk in queued:
        _enqueue(pk)
    stuck_before = now - timedelta(minutes=settings.EMAIL_STUCK_SENDING_MINUTES)
    stuck = 0
    for message in EmailMessage.objects.filter(
        status=EmailStatus.SENDING, sending_at__lt=stuck_before
    )[:1000]:
        with transaction.atomic():
            changed = EmailMessage.objects.filter(
                pk=message.pk, status=EmailStatus.SENDING
            ).update(
                status=EmailStatus.UNKNOWN,
                last_error="the worker stopped during the send",
                error_code=WORKER_LOST,
                updated_at=now,
            )
            if changed:
                stuck += 1
                email_event_record(
                    message,
                    EmailStatus.UNKNOWN,
                    {"code": WORKER_LOST, "reason": "worker lost"},
                )
    # A cancelled bulk send's messages left queued (their rows never worked
    # again): ended, not left waiting for ever.
    cancelled = bulk_cancelled_messages_end(batches=10)
    if queued or stuck:
        logger.warning(
            "email sweep", extra={"requeued": len(queued), "marked_unknown": stuck}
        )
    return {"requeued": len(queued), "unknown": stuck, "cancelled": cancelled}
