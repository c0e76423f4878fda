"""Webhook events: store once, process once, retry with backoff, give up.

Rows move received -> processing -> processed, or -> failed (retried by the
sweeper once ``next_attempt_at`` is due) -> ... -> dead after
``WEBHOOK_MAX_ATTEMPTS``. Claims, leases and backoff are integrations.leases':
two workers handed the same event (a duplicate enqueue, a sweep racing the
first task) never both run the handler.

A domain handler takes the WebhookEvent. It runs in the same transaction that
marks the row processed, so its own writes and the status commit together; it
must still be idempotent and monotonic, because a replay runs it again and
events arrive out of order (``received_at``, ``pk`` and ``occurred_at`` on the
row say in which order they were received and happened).
"""

import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache, partial
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import router, transaction
from django.db.models import Q
from django.utils.module_loading import import_string

from integrations import correlation, registry
from integrations.clock import database_now, stamp
from integrations.db import execute_one
from integrations.leases import ClaimLost, LeasedRows, describe_error
from integrations.models import ProviderAccount, WebhookEvent, WebhookStatus
from integrations.task_batcher import TaskBatcher
from integrations.webhooks.errors import MisroutedEvent, UnprocessableEvent
from integrations.webhooks.insert_sql import (
    insert_many_statement as _insert_many_statement,
)
from integrations.webhooks.insert_sql import insert_statement as _insert_statement
from integrations.webhooks.messages import WebhookMessage
from integrations.webhooks.metrics import WEBHOOK_PROCESSING

logger = logging.getLogger(__name__)

PROCESS_BATCH_TASK = "integrations.webhooks.tasks.process_webhook_events"
# Events per task when the sweeper or a replay enqueues many at once.
_SWEEP_TASK_SIZE = 50
NO_HANDLER = "no handler"
# webhooks.unusable's rows: a signed body no handler can read. A body can name
# this type too (types are the provider's): such an event is claimed once at
# least, an unusable row never (stored dead, or recovered since).
UNUSABLE_EVENT_TYPE = "(unusable body)"
UNUSABLE_ROWS = Q(event_type=UNUSABLE_EVENT_TYPE, attempts=0) & Q(
    status__in=[WebhookStatus.DEAD, WebhookStatus.PROCESSED]
)
# Before the error of a row stored dead at once (UnprocessableEvent).
NOT_RETRIED = "Not retried (the event itself cannot be processed): "
# Before the error of a row stored dead at once (MisroutedEvent, or an
# account this deploy cannot call: registry.ACCOUNT_UNCALLABLE).
MISCONFIGURED = "Not retried (configuration error; replay once it is fixed): "
_MAX_HEADER_CHARS = 1024
# Headers that carry credentials, sessions or signatures (PayPal's
# PAYPAL-TRANSMISSION-SIG among them) are never stored.
_SECRET_HEADER = re.compile(
    r"(auth|cookie|secret|passw|token|api[-_]?key|credential|signature|session"
    r"|transmission[-_]sig)",
    re.IGNORECASE,
)


_rows = LeasedRows(
    model=WebhookEvent,
    waiting=WebhookStatus.RECEIVED,
    running=WebhookStatus.PROCESSING,
    failed=WebhookStatus.FAILED,
    dead=WebhookStatus.DEAD,
    created_field="received_at",
    settings_prefix="WEBHOOK",
    lease_setting="WEBHOOK_PROCESSING_LEASE_SECONDS",
    lost_error="worker lost while processing (claim expired)",
)


def safe_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The request headers worth keeping for an audit, minus anything secret."""
    # jsonb cannot hold NUL: a header carrying one must not make a 500.
    return {
        str(name).lower(): str(value)[:_MAX_HEADER_CHARS].replace("\x00", "\ufffd")
        for name, value in headers.items()
        if not _is_secret_header(name)
    }


@lru_cache(maxsize=1024)  # header names repeat on every request
def _is_secret_header(name: str) -> bool:
    return bool(_SECRET_HEADER.search(str(name)))


def webhook_event_receive(
    *,
    account: ProviderAccount,
    message: WebhookMessage,
    body: bytes,
    headers: Mapping[str, str],
) -> tuple[int, bool]:
    """Store a verified webhook and enqueue it on commit.

    Returns ``(event id, created)``; ``created`` is False for a duplicate,
    which is not enqueued again.
    """
    correlation_id = correlation.get() or ""
    event_id, created = webhook_event_store(
        account=account,
        message=message,
        body=body,
        headers=headers,
        correlation_id=correlation_id,
    )
    if created:
        # Outside a transaction the row is committed by now and this runs at
        # once; inside one (ATOMIC_REQUESTS, a caller's block) it waits for the
        # commit.
        using = router.db_for_write(WebhookEvent)
        transaction.on_commit(partial(_enqueue, event_id, correlation_id), using=using)
    return event_id, created


def webhook_event_store(
    *,
    account: ProviderAccount,
    message: WebhookMessage,
    body: bytes,
    headers: Mapping[str, str],
    correlation_id: str = "",
    columns: Mapping[str, Any] | None = None,
) -> tuple[int, bool]:
    """Store a webhook once, without enqueueing it: ``(event id, created)``.
    ``columns``: other values for the new row (an unusable body's status).

    Two concurrent deliveries of one event race on the unique constraint: the
    loser waits for the winner's transaction and gets the winner's row (or
    inserts its own if the winner rolled back). The intake's cost floor: the
    webhook benchmark measures a view that does only this.
    """
    using = router.db_for_write(WebhookEvent)
    statement = _insert_statement(using)
    params = statement.params(
        account=account.pk,
        event_type=message.event_type,
        dedupe_key=message.dedupe_key,
        raw_body=body,
        payload=message.payload,
        headers=safe_headers(headers),
        occurred_at=message.occurred_at,
        correlation_id=correlation_id,
        **(columns or {}),
    )
    # Twice at most: a duplicate whose stored row is deleted between the
    # conflict and the lookup (a prune) is inserted again rather than lost.
    for _ in range(2):
        stored = statement.store(
            params, account.pk, message.dedupe_key, using, execute_one
        )
        if stored is not None:
            return stored
    raise WebhookEvent.DoesNotExist(message.dedupe_key)


def webhook_events_receive(
    *,
    account: ProviderAccount,
    messages: Sequence[WebhookMessage],
    body: bytes,
    headers: Mapping[str, str],
) -> list[int]:
    """Store every message of one verified request, all or none, and enqueue
    each new one on commit, as ``webhook_event_receive`` does for one.

    Returns the new events' ids in the request's order; a message whose
    dedupe key is already stored (or came earlier in the same request) is a
    duplicate and gets none. A database error stores nothing and propagates.
    """
    correlation_id = correlation.get() or ""
    created = webhook_events_store(
        account=account,
        messages=messages,
        body=body,
        headers=headers,
        correlation_id=correlation_id,
    )
    if created:
        # As for one event: at once if the rows are committed, else on commit.
        items = [[event_id, correlation_id] for event_id in created]
        using = router.db_for_write(WebhookEvent)
        transaction.on_commit(partial(_enqueue_each, items), using=using)
    return created


def webhook_events_store(
    *,
    account: ProviderAccount,
    messages: Sequence[WebhookMessage],
    body: bytes,
    headers: Mapping[str, str],
    correlation_id: str = "",
) -> list[int]:
    """Store the messages of one request in one transaction, without
    enqueueing them: the new events' ids in request order.

    Each row keeps its own payload as JSON bytes in ``raw_body``, except the
    request's first new event, which keeps the whole request body (stored
    once, not once per event). Rows are inserted in dedupe-key order, so two
    requests sharing keys lock them in one order and cannot deadlock.
    """
    first_of_key: dict[str, WebhookMessage] = {}
    for message in messages:
        first_of_key.setdefault(message.dedupe_key, message)
    unique = list(first_of_key.values())
    if not unique:
        return []
    using = router.db_for_write(WebhookEvent)
    statement = _insert_many_statement(using)
    shared = statement.params(
        account=account.pk,
        headers=safe_headers(headers),
        correlation_id=correlation_id,
    )
    first = unique[0]
    rows = [
        {
            "event_type": m.event_type,
            "dedupe_key": m.dedupe_key,
            "raw_body": body if m is first else _payload_bytes(m.payload),
            "payload": m.payload,
            "occurred_at": m.occurred_at,
        }
        for m in sorted(unique, key=_dedupe_key)
    ]
    with transaction.atomic(using=using):
        ids = statement.store(shared, rows, using)
        created = [m for m in unique if m.dedupe_key in ids]
        if created and created[0] is not first:
            # The first message was stored before: the request's body goes to
            # its first new event instead, so staff can still read it.
            statement.set_raw_body(ids[created[0].dedupe_key], body, using)
    return [ids[m.dedupe_key] for m in created]


def _dedupe_key(message: WebhookMessage) -> str:
    return message.dedupe_key


def _payload_bytes(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


def _linger_seconds() -> float:
    return settings.WEBHOOK_ENQUEUE_LINGER_MS / 1000


# Each item is [event id, correlation id]; see tasks.process_webhook_events.
_batcher = TaskBatcher(PROCESS_BATCH_TASK, linger=_linger_seconds, name="webhooks")


def _enqueue(event_id: int, correlation_id: str = "") -> None:
    """Processing for a committed row: batched by a background thread, or at
    once when ``WEBHOOK_ENQUEUE_LINGER_MS`` is 0."""
    _batcher.add([event_id, correlation_id])


def _enqueue_each(items: list[list[Any]]) -> None:
    """The new events of one request, each handed on as a single one is."""
    for item in items:
        _batcher.add(item)


def _enqueue_many(items: list[list[Any]]) -> None:
    for start in range(0, len(items), _SWEEP_TASK_SIZE):
        _batcher.send(items[start : start + _SWEEP_TASK_SIZE])


def webhook_event_process(*, event_id: int, now: datetime | None = None) -> str | None:
    """Run the handler for one event if this worker wins the claim.

    Returns the row's new status, or None when another worker has it or it is
    already done. Times are the database's (``integrations.clock``: the
    sweep measures the claim's lease by it) unless ``now`` is given.
    """
    if not _rows.claim(event_id, now):
        logger.info("webhook event not claimed", extra={"webhook_event_id": event_id})
        return None
    event = WebhookEvent.objects.select_related("account").get(pk=event_id)
    try:
        note = _dispatch(event, now)
    except ClaimLost:
        logger.warning("webhook claim lost", extra={"webhook_event_id": event_id})
        return None
    except UnprocessableEvent as exc:
        # The same row would fail the same way: no retry can help.
        return _record_failure(event, exc, now, not_retried=NOT_RETRIED)
    except (MisroutedEvent, *registry.ACCOUNT_UNCALLABLE) as exc:
        # So would every row of its kind (misrouted) or account (an adapter
        # or key this deploy lacks) until the configuration changes.
        return _record_failure(event, exc, now, not_retried=MISCONFIGURED)
    except Exception as exc:
        # The job boundary: any other handler error is kept and retried.
        return _record_failure(event, exc, now)
    result = "no_handler" if note == NO_HANDLER else "processed"
    WEBHOOK_PROCESSING.labels(event.account.kind, result).inc()
    logger.info(
        "webhook event processed",
        extra={
            "webhook_event_id": event.pk,
            "event_type": event.event_type,
            "account": event.account.slug,
            "note": note,
        },
    )
    return WebhookStatus.PROCESSED


def _dispatch(event: WebhookEvent, now: datetime | None) -> str:
    path = registry.get_adapter(event.account).webhook_handler(event.event_type)
    event.note = NO_HANDLER if path is None else ""
    handler = None if path is None else import_string(path)
    # A handler's look-ups at the provider (its ``prepare``) run before its
    # transaction: no row lock waits on the call, and a failed call stays in
    # the call log. What they found rides on ``event`` to the handler.
    prepare = getattr(handler, "prepare", None)
    if prepare is not None:
        prepare(event)
    with transaction.atomic():
        if handler is not None:
            handler(event)
        # A lost claim rolls the handler's writes back with it. The handler
        # names the object it applied the event to in ``event.subject``, and
        # in ``event.note`` what staff should know (a part it left out).
        _rows.finish(
            event,
            WebhookStatus.PROCESSED,
            processed_at=stamp(now),
            note=event.note[:255],
            subject=event.subject[:255],
        )
    return event.note


def _record_failure(
    event: WebhookEvent,
    exc: Exception,
    now: datetime | None,
    *,
    not_retried: str | None = None,
) -> str:
    """Keep the error: retried with backoff, or, with ``not_retried`` (what
    the stored error starts with), dead at once."""
    # The object the handler had found stays named, failed or not: its
    # timeline shows the webhook that could not be applied.
    extra = {}
    if not_retried is None:
        status = _rows.fail(event, exc, now, subject=event.subject[:255])
    else:
        status = WebhookStatus.DEAD
        # Logged too: the one record of a row no retry will bring back.
        extra["error"] = f"{not_retried}{describe_error(exc)}"
        _rows.held(event).update(
            status=status,
            last_error=extra["error"],
            next_attempt_at=None,
            subject=event.subject[:255],
        )
    WEBHOOK_PROCESSING.labels(event.account.kind, status).inc()
    log = logger.error if status == WebhookStatus.DEAD else logger.warning
    log(
        "webhook event failed",
        extra={
            "webhook_event_id": event.pk,
            "event_type": event.event_type,
            "account": event.account.slug,
            "attempts": event.attempts,
            "status": status,
            "error_type": type(exc).__name__,
            **extra,
        },
    )
    return status


def webhook_events_replay(*, event_ids: Iterable[int]) -> int:
    """Send events through processing again (staff replay), with fresh
    attempts. One being processed right now is left alone. How many."""
    return len(webhook_events_requeue(event_ids=event_ids))


def webhook_events_requeue(*, event_ids: Iterable[int]) -> list[int]:
    """``webhook_events_replay``, returning the ids sent again: exactly the
    rows the update changed. Locked as they are read, so a row a worker is
    claiming (PostgreSQL: locked, skipped) or has claimed is left out; on
    SQLite the immediate transaction keeps every other writer out."""
    with transaction.atomic():
        # An unusable body has nothing to process: webhooks.recovery reads it.
        rows = (
            WebhookEvent.objects.filter(pk__in=list(event_ids))
            .exclude(status=WebhookStatus.PROCESSING)
            .exclude(UNUSABLE_ROWS)
            .select_for_update(skip_locked=True)
            .order_by("pk")
        )
        ids = list(rows.values_list("pk", flat=True))
        WebhookEvent.objects.filter(pk__in=ids).update(
            status=WebhookStatus.RECEIVED, attempts=0, next_attempt_at=None
        )
        correlation_id = correlation.get() or ""
        items = [[event_id, correlation_id] for event_id in ids]
        transaction.on_commit(partial(_enqueue_many, items))
    logger.info("webhook events replayed", extra={"count": len(ids)})
    return ids


def webhook_events_sweep(*, now: datetime | None = None) -> int:
    """Re-enqueue rows the broker lost or that are due for a retry; take back
    rows whose worker died. Returns how many were enqueued. By the database's
    clock (the received, claimed and retry times') unless ``now`` is given."""
    now = now or database_now()
    dead, retrying = _rows.release_expired(now)
    if dead or retrying:
        logger.warning(
            "webhook claims expired", extra={"dead": dead, "retrying": retrying}
        )
    rows = _rows.due(now).values_list("pk", "correlation_id")
    batch = [list(pair) for pair in rows[: settings.WEBHOOK_SWEEP_BATCH]]
    _enqueue_many(batch)
    if batch:
        logger.info("webhook events swept", extra={"count": len(batch)})
    return len(batch)
