"""The sweep of storefront deliveries (``deliveries_sweep``, scheduled):
takes back rows whose worker died, noting each as a failed attempt, ends
rows past the age limit, notes staff's pauses, and enqueues what the broker
lost or what is due for a retry. Sending is ``services.deliveries``."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Concat

from integrations.errors import Unknown
from integrations.models import DeliveryStatus
from integrations.rows import locked_update
from storefront_hooks.models import WAITING, WebhookDelivery, WebhookEndpoint
from storefront_hooks.services.clock import database_now
from storefront_hooks.services.endpoints import (
    endpoint_pause_end,
    endpoint_pause_seen,
    endpoints_paused_by_staff,
)
from storefront_hooks.services.queue import enqueue
from storefront_hooks.services.rows import rows
from storefront_hooks.services.schedule import endpoint_failure_count, retry_schedule
from storefront_hooks.services.turns import due_batch, of_enabled_endpoints
from storefront_hooks.transport import Attempt

logger = logging.getLogger(__name__)

# The outcome of an attempt whose worker died: it may have been sent.
WORKER_LOST_CODE = "worker_lost"


def deliveries_sweep(*, now: datetime | None = None) -> int:
    """Take back deliveries whose worker died; enqueue those the broker lost
    or that are due for a retry. Returns how many were enqueued. Its time is
    the database's (the claims' and retries' clock), unless ``now`` is given."""
    now = now or database_now()
    paused = _sweep_endpoints(now)
    dead, retrying = _release_lost(now)
    _give_up_old(now)
    if dead or retrying:
        logger.warning(
            "webhook delivery claims expired",
            extra={"dead": dead, "retrying": retrying},
        )
    batch = due_batch(now, paused, settings.STOREFRONT_WEBHOOK_SWEEP_BATCH)
    for delivery_id in batch:
        enqueue(delivery_id)
    if batch:
        logger.info("webhook deliveries swept", extra={"count": len(batch)})
    return len(batch)


def _sweep_endpoints(now: datetime) -> list[int]:
    """The enabled endpoints whose breaker staff forced open (paused),
    noting each pause's start and end (the failing streak skips it). Their
    breakers' modes are read together: one round trip, not one each."""
    paused: list[int] = []
    enabled = WebhookEndpoint.objects.filter(enabled=True).select_related("account")
    endpoints = list(enabled.order_by("pk"))
    forced = endpoints_paused_by_staff(endpoints)
    for endpoint in endpoints:
        if endpoint.pk in forced:
            endpoint_pause_seen(endpoint, now)
            paused.append(endpoint.pk)
        elif endpoint.paused_since is not None:
            endpoint_pause_end(endpoint, now)
    return paused


def _give_up_old(now: datetime) -> int:
    """End the undelivered rows of the enabled endpoints older than the
    age limit, paused ones too (a disabled endpoint's rows wait for it:
    enabling sends them, or staff discard them). Age counts from the event,
    or from staff's last restart (enable, send again). Their last error says
    why they waited."""
    hours = settings.STOREFRONT_WEBHOOK_MAX_AGE_HOURS
    limit = now - timedelta(hours=hours)
    # One UPDATE on the table's own columns, its rows locked by id first
    # (``locked_update``; in its plan's order it deadlocked with a hold's
    # release taking them by an index): the lock checks the status again on
    # a row a worker just claimed, so an attempt under way is kept.
    old = WebhookDelivery.objects.filter(
        WAITING,
        Q(restarted_at__isnull=True) | Q(restarted_at__lte=limit),
        of_enabled_endpoints(),
        created_at__lte=limit,
    )
    ended = locked_update(
        old,
        status=DeliveryStatus.DEAD,
        next_attempt_at=None,
        waits_for_slot=False,  # ended: no slot is handed to it
        last_error=Concat(
            Value(f"Not delivered within {hours} hours; last: "), F("last_error")
        ),
    )
    if ended:
        logger.warning("webhook deliveries given up", extra={"count": ended})
    return ended


def _release_lost(now: datetime) -> tuple[int, int]:
    """Take back rows whose worker died (lease expired): each claim was an
    attempt that may have been sent, so it fails like any other, for the row
    (retried on its schedule, or dead) and for the endpoint (its failing
    streak, auto-disable), as of the claim. Returns ``(dead, retrying)``."""
    lease = timedelta(seconds=settings.STOREFRONT_WEBHOOK_LEASE_SECONDS)
    expired = WebhookDelivery.objects.filter(
        status=DeliveryStatus.DELIVERING, claimed_at__lte=now - lease
    ).select_related("endpoint")
    error = Unknown(rows.lost_error, code=WORKER_LOST_CODE)
    lost = Attempt(status_code=None, duration_ms=0, response_excerpt="", error=error)
    counts = {DeliveryStatus.DEAD: 0, DeliveryStatus.FAILED: 0}
    for delivery in expired.order_by("pk")[: settings.STOREFRONT_WEBHOOK_SWEEP_BATCH]:
        attempted = delivery.claimed_at
        with transaction.atomic():
            # Only while the claim stands: a slow worker that settled wins.
            if rows.held(delivery).update(
                last_status_code=None,
                last_duration_ms=None,
                last_response="",
                last_attempt_at=attempted,
            ):
                # Due a step after the attempt, as if it had failed then.
                status = rows.fail(delivery, error, attempted)
                if status == DeliveryStatus.FAILED:
                    retry_schedule(delivery.pk, now)
                endpoint_failure_count(delivery.endpoint, lost, attempted)
                counts[status] += 1
    return counts[DeliveryStatus.DEAD], counts[DeliveryStatus.FAILED]
