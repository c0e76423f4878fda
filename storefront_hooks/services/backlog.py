"""How long a delivery the endpoint's in-flight cap refused waits: its turn
in the endpoint's queue. The rows ahead of it go through the cap's slots one
slot time each, so it waits (rows ahead + 1) x slot time / cap, bounded;
rows further back wait longer, so a backlog comes back spread over the time
it takes to send, not all at once every second (each return would cost a
task run and a worker's wait for a slot)."""

import math
from datetime import datetime, timedelta

from django.db.models import Min, Q, QuerySet

from integrations.client.config import ClientConfig
from integrations.models import DeliveryStatus
from integrations.ratelimit import LimitConfig
from storefront_hooks.models import WAITING, WebhookDelivery
from storefront_hooks.services.rows import JITTER

# The longest a refused row waits for its turn (the breaker's longest
# Retry-After); its turn is counted again when it comes back.
CAP_WAIT_MAX_SECONDS = 600.0


def cap_wait_seconds(delivery: WebhookDelivery, now: datetime, least: float) -> float:
    """The wait for ``delivery`` (claimed at ``now``), refused by its
    endpoint's in-flight cap: at least ``least``, at most
    ``CAP_WAIT_MAX_SECONDS``."""
    account = delivery.endpoint.account
    cap = max(LimitConfig.for_account(account).max_concurrency or 1, 1)
    slot = _slot_seconds(delivery, now, ClientConfig.for_account(account))
    # No more rows ahead are counted than the longest wait needs.
    counted = math.ceil(CAP_WAIT_MAX_SECONDS * cap / max(slot, least)) + 1
    ahead = _ahead(delivery, now)[:counted].count()
    return min(max((ahead + 1) * slot / cap, least), CAP_WAIT_MAX_SECONDS)


def _slot_seconds(
    delivery: WebhookDelivery, now: datetime, config: ClientConfig
) -> float:
    """How long a slot is held: as long as the endpoint's oldest delivery in
    flight has been (they hold the slots), at most the call's deadline (no
    call outlasts it). Its own claim, just made, is not counted."""
    in_flight = WebhookDelivery.objects.filter(
        status=DeliveryStatus.DELIVERING, endpoint_id=delivery.endpoint_id
    ).exclude(pk=delivery.pk)
    oldest = in_flight.aggregate(at=Min("claimed_at"))["at"]
    held = (now - oldest).total_seconds() if oldest is not None else 0.0
    return min(max(held, 0.0), config.deadline_seconds)


def _ahead(delivery: WebhookDelivery, now: datetime) -> QuerySet:
    """The endpoint's waiting rows older than ``delivery`` that come due
    within the longest wait, jitter included (a retry hours away does not
    compete)."""
    horizon = now + timedelta(seconds=CAP_WAIT_MAX_SECONDS * (1 + JITTER))
    older = Q(created_at__lt=delivery.created_at) | Q(
        created_at=delivery.created_at, pk__lt=delivery.pk
    )
    soon = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=horizon)
    return WebhookDelivery.objects.filter(
        WAITING, older, soon, endpoint_id=delivery.endpoint_id
    ).order_by("created_at")
