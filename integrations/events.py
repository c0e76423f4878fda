"""Domain events through an outbox.

``event_emit`` writes an Event row and one EventDelivery row per subscriber in
the caller's transaction, so the event exists if and only if the change that
caused it committed. After commit each delivery is its own django-q2 task; a
sweeper re-enqueues deliveries the broker dropped or that are due for a retry.

Subscribers are named in settings ``SWITCHYARD_EVENT_SUBSCRIBERS``
(``{event name | "prefix.*" | "*": [dotted paths]}``) and take the Event. A
subscriber runs in the transaction that marks its delivery done, so its own
database writes happen exactly once; anything else it does must be idempotent,
because a worker can die between the call and the commit.
"""

import logging
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.tasks import async_task

from integrations import correlation
from integrations.models import DeliveryStatus, Event, EventDelivery
from integrations.task_batcher import shared_broker
from integrations.webhooks.metrics import EVENT_DELIVERIES
from integrations.webhooks.services import describe_error

logger = logging.getLogger(__name__)

DELIVER_TASK = "integrations.event_tasks.deliver_event"


class _ClaimLost(Exception):
    """The sweeper took the delivery back while this worker ran."""


def subscribers_for(name: str) -> list[str]:
    """Dotted paths subscribed to ``name``: exact, ``prefix.*`` and ``*``."""
    table: dict[str, list[str]] = settings.SWITCHYARD_EVENT_SUBSCRIBERS
    prefixes = sorted(k for k in table if k.endswith(".*") and name.startswith(k[:-1]))
    keys = [name, *prefixes, "*"]
    found = [path for key in keys for path in table.get(key, [])]
    return list(dict.fromkeys(found))


def event_emit(*, name: str, payload: dict[str, Any], subject: str = "") -> Event:
    """Record a domain event; call it inside the transaction that made the
    change. Delivery starts only after that transaction commits."""
    with transaction.atomic(savepoint=False):
        event = Event.objects.create(
            name=name,
            subject=subject,
            payload=payload,
            correlation_id=correlation.get() or "",
        )
        for subscriber in subscribers_for(name):
            delivery = EventDelivery.objects.create(event=event, subscriber=subscriber)
            transaction.on_commit(partial(_enqueue, delivery.pk, event.correlation_id))
    logger.info("event emitted", extra={"event_id": event.pk, "event_name": name})
    return event


def _enqueue(delivery_id: int, correlation_id: str = "") -> None:
    try:
        # One broker per process: a new one per call is a new Redis connection.
        async_task(DELIVER_TASK, delivery_id, correlation_id, broker=shared_broker())
    except Exception:
        # The delivery row is stored; the sweeper enqueues it again later.
        logger.exception(
            "event delivery enqueue failed; left for the sweeper",
            extra={"delivery_id": delivery_id},
        )


def event_delivery_run(*, delivery_id: int, now: datetime | None = None) -> str | None:
    """Deliver one event to one subscriber if this worker wins the claim.

    Returns the new status, or None when the delivery is taken or done.
    """
    now = now or timezone.now()
    if not _claim(delivery_id, now):
        logger.info("event delivery not claimed", extra={"delivery_id": delivery_id})
        return None
    delivery = EventDelivery.objects.select_related("event").get(pk=delivery_id)
    try:
        _call_subscriber(delivery, now)
    except _ClaimLost:
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


def _claim(delivery_id: int, now: datetime) -> bool:
    claimable = [DeliveryStatus.PENDING, DeliveryStatus.FAILED]
    updated = EventDelivery.objects.filter(pk=delivery_id, status__in=claimable).update(
        status=DeliveryStatus.DELIVERING, claimed_at=now, attempts=F("attempts") + 1
    )
    return updated == 1


def _mine(delivery: EventDelivery) -> "QuerySet[EventDelivery]":
    # Only the claim this worker holds: a taken-back delivery is not touched.
    return EventDelivery.objects.filter(
        pk=delivery.pk, status=DeliveryStatus.DELIVERING, claimed_at=delivery.claimed_at
    )


def _call_subscriber(delivery: EventDelivery, now: datetime) -> None:
    with transaction.atomic():
        import_string(delivery.subscriber)(delivery.event)
        updated = _mine(delivery).update(
            status=DeliveryStatus.DELIVERED,
            delivered_at=now,
            last_error="",
            next_attempt_at=None,
        )
        if updated != 1:
            raise _ClaimLost  # roll the subscriber's writes back with it


def _retry_delay(attempts: int) -> timedelta:
    base = settings.EVENT_RETRY_BASE_SECONDS
    seconds = min(base * 2 ** max(attempts - 1, 0), settings.EVENT_RETRY_MAX_SECONDS)
    return timedelta(seconds=seconds)


def _record_failure(delivery: EventDelivery, exc: Exception, now: datetime) -> str:
    dead = delivery.attempts >= settings.EVENT_MAX_ATTEMPTS
    status = DeliveryStatus.DEAD if dead else DeliveryStatus.FAILED
    _mine(delivery).update(
        status=status,
        last_error=describe_error(exc),
        next_attempt_at=None if dead else now + _retry_delay(delivery.attempts),
    )
    EVENT_DELIVERIES.labels(status).inc()
    log = logger.error if dead else logger.warning
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
    ones whose worker died. Returns how many were enqueued."""
    now = now or timezone.now()
    _release_expired_claims(now)
    stuck_before = now - timedelta(minutes=settings.EVENT_SWEEP_AFTER_MINUTES)
    due = Q(status=DeliveryStatus.PENDING, created_at__lte=stuck_before) | Q(
        status=DeliveryStatus.FAILED, next_attempt_at__lte=now
    )
    rows = EventDelivery.objects.filter(due).order_by("created_at", "pk")
    batch = list(
        rows.values_list("pk", "event__correlation_id")[: settings.EVENT_SWEEP_BATCH]
    )
    for delivery_id, correlation_id in batch:
        _enqueue(delivery_id, correlation_id)
    if batch:
        logger.info("event deliveries swept", extra={"count": len(batch)})
    return len(batch)


def _release_expired_claims(now: datetime) -> None:
    lease = timedelta(seconds=settings.EVENT_DELIVERY_LEASE_SECONDS)
    expired = EventDelivery.objects.filter(
        status=DeliveryStatus.DELIVERING, claimed_at__lte=now - lease
    )
    error = "worker lost while delivering (claim expired)"
    dead = expired.filter(attempts__gte=settings.EVENT_MAX_ATTEMPTS).update(
        status=DeliveryStatus.DEAD, last_error=error, next_attempt_at=None
    )
    retry = expired.update(
        status=DeliveryStatus.FAILED, last_error=error, next_attempt_at=now
    )
    if dead or retry:
        logger.warning(
            "event delivery claims expired", extra={"dead": dead, "retrying": retry}
        )


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
                partial(_enqueue, delivery_id, correlation.get() or "")
            )
    logger.info("event deliveries retried", extra={"count": len(ids)})
    return len(ids)
