"""Handing a free in-flight slot on. A delivery the endpoint's cap refused
is put back, due on its turn (``services.backlog``); when a delivery to that
endpoint ends and frees its slot, the endpoint's oldest such row is made due
and queued at once, behind the tasks already queued (other endpoints keep
their places). So a burst beyond the cap goes out about as fast as the
endpoint answers, not on the scheduler's next look, and no worker waits for
a slot. Its turn stays the fallback if a hand-on is missed (a worker died).

A row waiting for a slot is marked by its own field (``waits_for_slot``),
cleared when it is handed on (so two ending deliveries hand on two rows, not
one twice) or claimed; the claim still sends a row queued twice once. A cache flag per
endpoint, set when a row is held for a slot, spares the other endpoints'
deliveries the database read. While Redis cannot be reached the flag is not
asked (``redis_line.outage``: one timeout and warning per outage, not one
per delivery) and nothing is handed on: the rows go out on their turn."""

import logging

from django.core.cache import cache
from django.db import transaction
from django.db.models.functions import Now
from redis.exceptions import RedisError

from integrations.cache_clock import redis_outage_guard
from integrations.ratelimit import LimitConfig, limiter_for
from storefront_hooks.models import WAITING, WebhookDelivery, WebhookEndpoint
from storefront_hooks.services.backlog import CAP_WAIT_MAX_SECONDS
from storefront_hooks.services.queue import enqueue_on_commit, unschedule

logger = logging.getLogger(__name__)


def _flag(endpoint_id: int) -> str:
    return f"storefront_hooks:slot_waiters:{endpoint_id}"


def slot_wait_noted(endpoint: WebhookEndpoint) -> None:
    """After a row the cap refused is put back: note that the endpoint has
    rows waiting for a slot. A slot freed between the refusal and the put
    back found none to hand on, so if one is free now, hand it on here."""
    limiter = limiter_for(endpoint.account)
    try:
        # As long as a held row waits at most: then it is due anyway.
        redis_outage_guard(cache.set, _flag(endpoint.pk), 1, CAP_WAIT_MAX_SECONDS)
        cap = limiter.config.max_concurrency or 1
        free = redis_outage_guard(limiter.in_flight) < cap
    except RedisError:
        return  # noted in the outage record: the row waits its turn
    if free:
        hand_on(endpoint.pk)


def slot_freed(endpoint: WebhookEndpoint) -> None:
    """After a delivery to ``endpoint`` ended (its slot is free): hand the
    slot on to the endpoint's oldest row waiting for one, if any. No cap:
    no read (a cache round trip per delivery otherwise)."""
    if LimitConfig.for_account(endpoint.account).max_concurrency is None:
        return
    try:
        if redis_outage_guard(cache.get, _flag(endpoint.pk)) is None:
            return
        if hand_on(endpoint.pk) is None:
            redis_outage_guard(cache.delete, _flag(endpoint.pk))
    except RedisError:
        return  # noted in the outage record: the rows wait their turn


def hand_on(endpoint_id: int) -> int | None:
    """Make the endpoint's oldest row waiting for a slot due and queue it
    (its one-off schedule dropped); its id, or None if there was none. A row
    another worker is handing on (locked) is skipped for the next."""
    with transaction.atomic():
        # Read through the partial index of the rows waiting for a slot.
        waiting = WebhookDelivery.objects.filter(
            WAITING, endpoint_id=endpoint_id, waits_for_slot=True
        ).order_by("created_at", "pk")
        found = waiting.select_for_update(skip_locked=True).values_list("pk", flat=True)
        delivery_id = found.first()
        if delivery_id is None:
            return None
        waiting.filter(pk=delivery_id).update(
            next_attempt_at=Now(), waits_for_slot=False
        )
        unschedule(delivery_id)
        enqueue_on_commit(delivery_id)
    logger.info(
        "webhook delivery handed a free slot",
        extra={"delivery_id": delivery_id, "endpoint_id": endpoint_id},
    )
    return delivery_id
