"""Domain events through an outbox.

``event_emit`` writes an Event row and one EventDelivery row per subscriber in
the caller's transaction, so the event exists if and only if the change that
caused it committed. After commit each delivery is its own django-q2 task; a
sweeper re-enqueues deliveries the broker dropped or that are due for a retry.

Subscribers are named in settings ``SWITCHYARD_EVENT_SUBSCRIBERS``
(``{event name | "name@kind" | "prefix.*" | "*": [dotted paths]}``) and take
the Event; ``name@kind`` only for an event emitted about an account of that
kind (``event_emit(kind=)``), so other kinds' events write no row for it. A
subscriber runs in the transaction that marks its delivery done, so its own
database writes happen exactly once; anything else it does must be idempotent,
because a worker can die between the call and the commit.

An event about something a provider account served (a payment, a shipment,
a pickup, an email) names that account: its payload then carries
``livemode`` (Stripe's word), so the storefront can tell test traffic apart.
"""

import logging
from datetime import datetime
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.dispatch import receiver
from django.utils.module_loading import import_string
from django_q.signals import post_execute_in_worker

from integrations import correlation
from integrations.clock import database_now
from integrations.commits import connection_for
from integrations.event_sql import event_rows_insert
from integrations.leases import ClaimLost, LeasedRows
from integrations.models import DeliveryStatus, Event, EventDelivery, ProviderAccount
from integrations.models.accounts import Mode
from integrations.row_new import row_new
from integrations.task_batcher import TaskBatcher
from integrations.webhooks.metrics import EVENT_DELIVERIES

logger = logging.getLogger(__name__)

DELIVER_BATCH_TASK = "integrations.event_tasks.deliver_event_batch"


_rows = LeasedRows(
    model=EventDelivery,
    waiting=DeliveryStatus.PENDING,
    running=DeliveryStatus.DELIVERING,
    failed=DeliveryStatus.FAILED,
    dead=DeliveryStatus.DEAD,
    created_field="created_at",
    settings_prefix="EVENT",
    lease_setting="EVENT_DELIVERY_LEASE_SECONDS",
    lost_error="worker lost while delivering (claim expired)",
)


def subscribers_for(name: str, kind: str = "") -> list[str]:
    """Dotted paths subscribed to ``name``: exact, ``name@kind`` for an
    event about an account of ``kind``, ``prefix.*`` and ``*``."""
    table: dict[str, list[str]] = settings.SWITCHYARD_EVENT_SUBSCRIBERS
    prefixes = sorted(k for k in table if k.endswith(".*") and name.startswith(k[:-1]))
    keys = [name, *([f"{name}@{kind}"] if kind else []), *prefixes, "*"]
    found = [path for key in keys for path in table.get(key, [])]
    return list(dict.fromkeys(found))


# The provider code of every kind's sandbox (settings' adapter tables).
SANDBOX_PROVIDER = "sandbox"


def livemode(account: ProviderAccount) -> bool:
    """True for a live account of a real provider: a sandbox moves no real
    money or parcels, whatever mode it was given."""
    return account.mode == Mode.LIVE and account.provider != SANDBOX_PROVIDER


def event_emit(
    *,
    name: str,
    payload: dict[str, Any],
    subject: str = "",
    defer: bool = False,
    account: ProviderAccount | None = None,
    kind: str = "",
) -> Event:
    """Record a domain event; call it inside the transaction that made the
    change. Delivery starts only after that transaction commits.

    ``account``: the provider account the subject belongs to, if any (pass
    the loaded one: no query is made); the payload gets its ``livemode``.

    ``kind``: the kind of the provider account the event is about, for the
    subscribers of ``name@kind`` (``subscribers_for``).

    ``defer``: inside an ``integrations.commits`` group the rows may wait for
    the group's commit (``integrations.group_sql``); the returned Event has
    no pk until then. Only for callers that do not use the pk."""
    if account is not None:
        payload = {**payload, "livemode": livemode(account)}
    with transaction.atomic(savepoint=False):
        event = row_new(
            Event,
            name=name,
            subject=subject,
            payload=payload,
            correlation_id=correlation.get() or "",
        )

        def enqueue(delivery_ids: list[int]) -> None:
            if delivery_ids:
                # transaction.on_commit on the commit group's connection: its
                # look-up (~7 Python calls) made once per request.
                connection_for().on_commit(
                    partial(_enqueue, delivery_ids, event.correlation_id)
                )
            logger.info(
                "event emitted", extra={"event_id": event.pk, "event_name": name}
            )

        # One statement for the event and all its deliveries on PostgreSQL:
        # through the ORM they cost the caller two round trips and ~2k calls.
        event_rows_insert(event, subscribers_for(name, kind), enqueue, later=defer)
    return event


def _linger_seconds() -> float:
    return settings.EVENT_ENQUEUE_LINGER_MS / 1000


# Each item is [delivery ids, correlation id]: one event's deliveries. An
# enqueue costs ~0.2 ms of CPU and a Redis round trip; a background thread
# sends the items of ``EVENT_ENQUEUE_LINGER_MS`` as one task, off the request.
# At most 10 events a task: a slow subscriber (or a task timeout) holds up few.
_batcher = TaskBatcher(
    DELIVER_BATCH_TASK, linger=_linger_seconds, max_batch=10, name="events"
)


@receiver(post_execute_in_worker, dispatch_uid="events_flush_after_task")
def _flush_after_task(**kwargs: Any) -> None:
    # django-q2 ends a worker process with os._exit (recycling, timeouts),
    # which skips the exit flush: a task's events are enqueued before it goes.
    _batcher.flush()


def _enqueue(delivery_ids: list[int], correlation_id: str = "") -> None:
    """Delivery for committed rows (each claimed and settled on its own in
    the task): batched by a background thread, or at once when
    ``EVENT_ENQUEUE_LINGER_MS`` is 0. Lost with the process, the rows are
    found by the sweeper."""
    _batcher.add([list(delivery_ids), correlation_id])


def event_delivery_run(*, delivery_id: int, now: datetime | None = None) -> str | None:
    """Deliver one event to one subscriber if this worker wins the claim.

    Returns the new status, or None when the delivery is taken or done.
    Times are the database's (``integrations.clock``) unless ``now`` is given.
    """
    if not _rows.claim(delivery_id, now):
        logger.info("event delivery not claimed", extra={"delivery_id": delivery_id})
        return None
    delivery = EventDelivery.objects.select_related("event").get(pk=delivery_id)
    # The claim's time, by the clock the sweep measures its lease on.
    now = now or delivery.claimed_at
    try:
        _call_subscriber(delivery, now)
    except ClaimLost:
        logger.warning("event delivery claim lost", extra={"delivery_id": delivery_id})
        return None
    except Exception as exc:
        # The job boundary: a subscriber's error is kept and retried.
        return _record_failure(delivery, exc, now)
    EVENT_DELIVERIES.labels(DeliveryStatus.DELIVERED).inc()
    logger.info(
        "event delivered",
        extra={
            "delivery_id": delivery.pk,
            "event_name": delivery.event.name,
            "subscriber": delivery.subscriber,
        },
    )
    return DeliveryStatus.DELIVERED


def _call_subscriber(delivery: EventDelivery, now: datetime) -> None:
    with transaction.atomic():
        import_string(delivery.subscriber)(delivery.event)
        # A lost claim rolls the subscriber's writes back with it.
        _rows.finish(delivery, DeliveryStatus.DELIVERED, delivered_at=now)


def _record_failure(delivery: EventDelivery, exc: Exception, now: datetime) -> str:
    status = _rows.fail(delivery, exc, now)
    EVENT_DELIVERIES.labels(status).inc()
    log = logger.error if status == DeliveryStatus.DEAD else logger.warning
    log(
        "event delivery failed",
        extra={
            "delivery_id": delivery.pk,
            "event_name": delivery.event.name,
            "subscriber": delivery.subscriber,
            "attempts": delivery.attempts,
            "status": status,
            "error_type": type(exc).__name__,
        },
    )
    return status


def event_deliveries_sweep(*, now: datetime | None = None) -> int:
    """Re-enqueue deliveries that never ran or are due for a retry; take back
    ones whose worker died. Returns how many were enqueued. By the
    database's clock (the claims' and retries') unless ``now`` is given."""
    now = now or database_now()
    dead, retrying = _rows.release_expired(now)
    if dead or retrying:
        logger.warning(
            "event delivery claims expired",
            extra={"dead": dead, "retrying": retrying},
        )
    rows = _rows.due(now).values_list("pk", "event__correlation_id")
    batch = list(rows[: settings.EVENT_SWEEP_BATCH])
    for delivery_id, correlation_id in batch:
        _enqueue([delivery_id], correlation_id)
    if batch:
        logger.info("event deliveries swept", extra={"count": len(batch)})
    return len(batch)


def event_deliveries_retry(*, delivery_ids: list[int]) -> int:
    """Staff: deliver failed or dead deliveries again, with fresh attempts."""
    retryable = [DeliveryStatus.FAILED, DeliveryStatus.DEAD]
    with transaction.atomic():
        rows = EventDelivery.objects.filter(pk__in=delivery_ids, status__in=retryable)
        ids = list(rows.values_list("pk", flat=True))
        EventDelivery.objects.filter(pk__in=ids, status__in=retryable).update(
            status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=None
        )
        for delivery_id in ids:
            transaction.on_commit(
                partial(_enqueue, [delivery_id], correlation.get() or "")
            )
    logger.info("event deliveries retried", extra={"count": len(ids)})
    return len(ids)
