"""Deliveries: made from outbox events (``event_fan_out``, the subscriber),
sent one attempt at a time (``delivery_send``), sent again by staff; the
sweep that takes back and re-enqueues them is ``services.sweep``.

A row is claimed before its POST and settled after it; a worker that dies in
between leaves the row claimed until its lease ends, then the sweeper counts
that attempt as failed (for the row and the endpoint) and the row is retried
on its schedule with the same ``webhook-id``, so a receiver that got it
already deduplicates it. A row the endpoint's breaker held back was never
sent: it is put back, its attempt not counted, due when the breaker may let
a call through. So is a row claimed while its endpoint's receiver asked us
to wait (a 429/503's Retry-After to any of its rows: it means the
endpoint), due when that wait ends, with the row that was answered, or
sooner if a success answered after it ends the wait (``services.hold``).
"""

import json
import logging
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    connection,
    transaction,
)
from django.db.models import F
from django.utils import timezone

from integrations.errors import ProviderError
from integrations.leases import ClaimLost, describe_error
from integrations.models import DeliveryStatus, Event
from integrations.rows import locked_update
from storefront_hooks import catalog
from storefront_hooks.models import (
    WebhookDelivery,
    WebhookEndpoint,
)
from storefront_hooks.services import handoff
from storefront_hooks.services.backlog import cap_wait_seconds
from storefront_hooks.services.claim import claim_started, delivery_claim
from storefront_hooks.services.clock import database_now
from storefront_hooks.services.endpoints import (
    endpoint_pause_end,
    endpoint_pause_seen,
    endpoint_paused_by_staff,
    endpoint_streak_disable_undo,
)
from storefront_hooks.services.excerpt import staff_excerpt
from storefront_hooks.services.hold import (
    answered_row_held,
    held_error,
    held_row_recheck,
    held_rows_released,
    hold_set,
)
from storefront_hooks.services.queue import enqueue_on_commit
from storefront_hooks.services.rows import JITTER, in_callers_transaction, rows
from storefront_hooks.services.schedule import endpoint_failure_count, retry_schedule
from storefront_hooks.transport import Attempt, delivery_post

logger = logging.getLogger(__name__)

# A held-back row waits at least this long, and this long when the refusal
# names no wait (a breaker forced open by staff): the sweep's own pace.
HELD_BACK_MIN_SECONDS = 1.0
HELD_BACK_UNKNOWN_SECONDS = 60.0
# The in-flight cap's refusal (``integrations.ratelimit``).
IN_FLIGHT_CODE = "concurrency_limited"
# Why a paused row waits (staff read it on the row and the endpoint).
PAUSED_REASON = "the endpoint's circuit breaker is forced open by staff"
# Before the error of a delivery that failed on our side (staff read it).
OUR_SIDE_ERROR = "Failed on our side, not the endpoint's: "


def render_body(event_type: str, timestamp: datetime, data: dict[str, Any]) -> str:
    """The JSON body every attempt sends, fixed when the row is made."""
    message = {"type": event_type, "timestamp": timestamp.isoformat(), "data": data}
    return json.dumps(message, cls=DjangoJSONEncoder, separators=(",", ":"))


def event_fan_out(event: Event) -> None:
    """Outbox subscriber: one delivery per endpoint that wants the event.
    Runs in the transaction that marks the outbox delivery done, so the rows
    are made exactly once."""
    if not catalog.is_public(event.name):
        return
    endpoints = [e for e in WebhookEndpoint.objects.all() if e.wants(event.name)]
    if not endpoints:
        return
    body = render_body(event.name, event.created_at, event.payload)
    made = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(endpoint=e, event=event, event_type=event.name, body=body)
        for e in endpoints
    )
    for endpoint, delivery in zip(endpoints, made, strict=True):
        if endpoint.enabled:
            enqueue_on_commit(delivery.pk)
    logger.info(
        "webhook deliveries made",
        extra={"event_id": event.pk, "event_name": event.name, "count": len(made)},
    )


def test_event_send(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """A ``webhook.test`` delivery to ``endpoint``, sent like any other."""
    now = timezone.now()
    data = {"endpoint_id": endpoint.public_id, "message": "Test event"}
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint,
            event_type=catalog.TEST_EVENT_TYPE,
            body=render_body(catalog.TEST_EVENT_TYPE, now, data),
        )
        enqueue_on_commit(delivery.pk)
    return delivery


def delivery_send(*, delivery_id: int, now: datetime | None = None) -> str | None:
    """One attempt at one delivery if this worker wins the claim. Returns the
    new status (the row's waiting one if the breaker held it back), or None
    when the row is taken, done, or its endpoint is disabled. The attempt's
    time is its claim's, from the database's clock (``services.clock``)
    unless ``now`` is given: a discard, a failing streak and the sweep's
    lease compare it with stamps other processes wrote."""
    claiming = claim_started()  # the answer's time is measured from here
    delivery = delivery_claim(delivery_id, now)
    if delivery is None:
        return None
    now = delivery.claimed_at
    attempt: Attempt | None = None
    try:
        held_until = delivery.endpoint.retry_after_until
        if held_until is not None and held_until > now:
            return _wait_out(delivery, held_until, now)
        attempt = _answer_timed(
            delivery_post(delivery.endpoint, delivery, timestamp=now), now, claiming
        )
        if attempt.held_back and endpoint_paused_by_staff(delivery.endpoint):
            return _pause(delivery, now)
        if attempt.held_back:
            return _hold_back(delivery, attempt.error, now)
        return _settle_retrying(delivery, attempt, now)
    except ClaimLost:
        logger.warning(
            "webhook delivery claim lost", extra={"delivery_id": delivery_id}
        )
        return None
    except Exception as exc:
        # Ours (a secret no key opens, the database), not the endpoint's.
        return _failed_on_our_side(delivery, exc, now, attempt)
    finally:
        _slot_handed_on(delivery.endpoint, attempt)


def _slot_handed_on(endpoint: WebhookEndpoint, attempt: Attempt | None) -> None:
    """After the row is settled or put back: a slot this attempt freed goes
    to the endpoint's oldest row waiting for one (``services.handoff``).
    Bookkeeping only: a row not handed on waits its turn."""
    if attempt is None:
        return  # nothing went out: no slot was taken
    refused = attempt.error is not None and attempt.error.code == IN_FLIGHT_CODE
    if attempt.held_back and not refused:
        return  # the breaker held it back: no slot was taken
    try:
        if refused:
            handoff.slot_wait_noted(endpoint)
        else:
            handoff.slot_freed(endpoint)
    except Exception as exc:
        logger.warning(
            "webhook delivery slot not handed on",
            extra={"endpoint": endpoint.public_id, "error_type": type(exc).__name__},
        )


def _attempt_fields(attempt: Attempt, now: datetime) -> dict[str, Any]:
    return {
        "last_status_code": attempt.status_code,
        "last_duration_ms": attempt.duration_ms,
        # The receiver's words, shown to staff: known secrets masked.
        "last_response": staff_excerpt(attempt.response_excerpt),
        "last_attempt_at": now,
    }


def _answer_timed(attempt: Attempt, now: datetime, claiming: float) -> Attempt:
    """``attempt`` with when its answer came on the claim's (the database's)
    clock: the claim's time plus what this process measured from the claim
    to the answer, a wait before the POST (a queue, DNS, a pool) included,
    so answers settled by different workers are ordered as they came."""
    if attempt.answered_mono is None:
        return attempt
    after = timedelta(seconds=max(0.0, attempt.answered_mono - claiming))
    return replace(attempt, answered_at=now + after)


def _answered(attempt: Attempt, now: datetime) -> datetime:
    """When the answer came: a wait counts from it, not from the claim
    (``now``), or a slow receiver's wait would end early by its time."""
    if attempt.answered_at is not None:
        return attempt.answered_at
    return now + timedelta(milliseconds=attempt.duration_ms)


def _retry_after_due(
    attempt: Attempt, now: datetime, *, spread: bool = True
) -> datetime | None:
    """When the wait a 429 or 503 asked for (``Retry-After``) ends, bounded
    as the breaker bounds it, +0-20 % if ``spread``; None if it asked for
    none."""
    error = attempt.error
    if error is None or not error.retry_after:
        return None
    wait = min(error.retry_after, settings.BREAKER_MAX_RETRY_AFTER_SECONDS)
    factor = random.uniform(1, 1 + JITTER) if spread else 1.0
    return _answered(attempt, now) + timedelta(seconds=wait * factor)


def _retry_after_held(
    delivery: WebhookDelivery, attempt: Attempt, now: datetime, due: datetime
) -> None:
    """Every row of the endpoint waits until ``due`` (``delivery_send`` holds
    them; ``services.hold``), in its own statement before the settle, so a
    settle the database refuses cannot take the receiver's wait with it."""
    hold_set(delivery.endpoint_id, due, _answered(attempt, now))


def _settle(delivery: WebhookDelivery, attempt: Attempt, now: datetime) -> str:
    fields = _attempt_fields(attempt, now)
    endpoint = delivery.endpoint
    if endpoint.paused_since is not None:
        _pause_over(endpoint, now)
    if attempt.error is None:
        # One relaxed statement (rows.deliver), which also ends the failing
        # streak as stored if it began before this attempt: another worker
        # may have begun one since the endpoint was loaded with the claim.
        disabled_at, hold_ended = rows.deliver(
            delivery, answered_at=_answered(attempt, now), delivered_at=now, **fields
        )
        if disabled_at is not None:
            _streak_disable_undo(endpoint, disabled_at, now)
        if hold_ended:
            _held_rows_released(endpoint, _answered(attempt, now))
        _log(delivery, attempt, DeliveryStatus.DELIVERED)
        return DeliveryStatus.DELIVERED
    hold = _retry_after_due(attempt, now)
    if hold is not None:
        _retry_after_held(delivery, attempt, now, hold)
    with transaction.atomic():
        if rows.held(delivery).update(**fields) != 1:
            raise ClaimLost
        status = rows.fail(delivery, attempt.error, now)
        if hold is not None and status == DeliveryStatus.FAILED:
            # Not retried before the wait (the schedule's early steps
            # would ask again within seconds), unless it ended meanwhile.
            answered_row_held(delivery, hold)
        if status == DeliveryStatus.FAILED:
            retry_schedule(delivery.pk, now)
        endpoint_failure_count(endpoint, attempt, now)
    _log(delivery, attempt, status)
    return status


def _settle_retrying(delivery: WebhookDelivery, attempt: Attempt, now: datetime) -> str:
    """``_settle``, once more if the database refused it (a dropped
    connection, a deadlock) outside a transaction: the POST went out, and an
    unsettled success would be sent again. Safe to repeat: each write is
    conditioned on the claim, so a first try that committed before its
    connection dropped makes the second raise ClaimLost."""
    try:
        return _settle(delivery, attempt, now)
    except (OperationalError, InterfaceError) as exc:
        if in_callers_transaction():
            raise  # the caller's transaction is broken; not ours to redo
        logger.warning(
            "webhook delivery settle retried",
            extra={"delivery_id": delivery.pk, "error_type": type(exc).__name__},
        )
        if not connection.is_usable():
            connection.close()  # the next statement opens a new one
    return _settle(delivery, attempt, now)


def _pause_over(endpoint: WebhookEndpoint, now: datetime) -> None:
    """A call went out, so staff released the breaker: the pause is over.
    Bookkeeping only: the call is settled as it went whatever happens here
    (a lost note is the sweep's to make; a failure meanwhile disables
    nothing, ``endpoint_failure_count``)."""
    try:
        endpoint_pause_end(endpoint, now)
    except DatabaseError as exc:
        logger.warning(
            "webhook endpoint pause end not noted",
            extra={"endpoint": endpoint.public_id, "error_type": type(exc).__name__},
        )


def _held_rows_released(endpoint: WebhookEndpoint, answered: datetime) -> None:
    """This success ended the endpoint's Retry-After hold (``rows.deliver``):
    the rows it held are due now. Bookkeeping after the row is settled: if
    the database refuses it, they come due when the hold would have ended."""
    try:
        held_rows_released(endpoint, answered, "a success answered after it")
    except DatabaseError as exc:
        logger.warning(
            "webhook endpoint held rows not released",
            extra={"endpoint": endpoint.public_id, "error_type": type(exc).__name__},
        )


def _streak_disable_undo(
    endpoint: WebhookEndpoint, disabled_at: datetime, now: datetime
) -> None:
    """Bookkeeping after a success is settled: if the database refuses it,
    the delivery stays delivered and the endpoint disabled (a WARNING)."""
    try:
        endpoint_streak_disable_undo(
            endpoint=endpoint, disabled_at=disabled_at, now=now
        )
    except DatabaseError as exc:
        logger.warning(
            "webhook endpoint disable not undone",
            extra={"endpoint": endpoint.public_id, "error_type": type(exc).__name__},
        )


def _hold_back(
    delivery: WebhookDelivery, error: ProviderError | None, now: datetime
) -> str:
    """Put back a row our own guards refused (nothing was sent): the claim's
    attempt undone, due when the breaker may let a call through, so an open
    breaker (up to 600 s on a Retry-After) never uses up the early steps;
    one the in-flight cap refused, on its turn in the endpoint's queue.
    The endpoint's failing streak is its real attempts' alone."""
    last_error = describe_error(error) if error else ""
    for_slot = error is not None and error.code == IN_FLIGHT_CODE
    if for_slot:
        # Its turn in the endpoint's queue, not the slot poll's 0.01 s; sooner
        # if a slot is handed on to it.
        wait = cap_wait_seconds(delivery, now, HELD_BACK_MIN_SECONDS)
    else:
        wait = (error.retry_after if error else None) or HELD_BACK_UNKNOWN_SECONDS
    wait = max(wait, HELD_BACK_MIN_SECONDS) * random.uniform(1, 1 + JITTER)
    due = now + timedelta(seconds=wait)
    with transaction.atomic():  # the row and its schedule together
        status = _put_back(
            delivery, due=due, last_error=last_error, waits_for_slot=for_slot
        )
        retry_schedule(delivery.pk, now, due)
    logger.info(
        "webhook delivery held back",
        extra={
            "delivery_id": delivery.pk,
            "endpoint": delivery.endpoint.public_id,
            "error_code": error.code if error else "",
            "next_attempt_at": due.isoformat(),
        },
    )
    return status


def _wait_out(delivery: WebhookDelivery, until: datetime, now: datetime) -> str:
    """Put back a row claimed while its endpoint's receiver asked us to wait
    (``services.hold``): nothing was sent, its attempt is undone and the
    endpoint's failing streak untouched; due when the wait ends, as the row
    that was answered (none of the held rows goes before it)."""
    with transaction.atomic():  # the row and its schedule together
        status = _put_back(delivery, due=until, last_error=held_error(until))
        retry_schedule(delivery.pk, now, until)
    if held_row_recheck(delivery, until):
        return status  # the hold ended while the row was put back: due now
    logger.info(
        "webhook delivery held for its endpoint's retry-after",
        extra={
            "delivery_id": delivery.pk,
            "endpoint": delivery.endpoint.public_id,
            "next_attempt_at": until.isoformat(),
        },
    )
    return status


def _pause(delivery: WebhookDelivery, now: datetime) -> str:
    """Put back a row the endpoint's breaker refused because staff forced it
    open: nothing was sent and no time is known, so no retry is scheduled;
    the sweep leaves the endpoint's rows alone until the breaker is released
    (``rows.due``), then finds this one due."""
    endpoint_pause_seen(delivery.endpoint, now)
    since = now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    status = _put_back(
        delivery, due=now, last_error=f"Paused since {since}: {PAUSED_REASON}"
    )
    logger.info(
        "webhook delivery paused",
        extra={"delivery_id": delivery.pk, "endpoint": delivery.endpoint.public_id},
    )
    return status


def _put_back(
    delivery: WebhookDelivery,
    *,
    due: datetime,
    last_error: str,
    waits_for_slot: bool = False,
) -> str:
    """The claimed row as it was before the claim (its attempt undone), due
    at ``due``; ``waits_for_slot``: the in-flight cap refused it."""
    # Put back, it would be sent when the endpoint is enabled.
    if rows.end_if_discarded(delivery, last_error, attempts=F("attempts") - 1):
        return DeliveryStatus.DEAD
    # A row never attempted goes back to pending (only the claim counted).
    status = DeliveryStatus.PENDING if delivery.attempts <= 1 else DeliveryStatus.FAILED
    held = rows.held(delivery).update(
        status=status,
        attempts=F("attempts") - 1,
        next_attempt_at=due,
        last_error=last_error,
        waits_for_slot=waits_for_slot,
    )
    if held != 1:
        raise ClaimLost
    return status


def _failed_on_our_side(
    delivery: WebhookDelivery,
    exc: Exception,
    now: datetime,
    attempt: Attempt | None = None,
) -> str | None:
    """Keep an error of ours on the row and retry it on its schedule, before
    the lease ends (the sweeper would count a lost worker against the
    endpoint); the endpoint's failing streak is its own answers' alone. The
    row shows the attempt's answer if there was one. A 2xx whose settle
    failed was delivered: it is sent again (at least once), never ended
    dead, for want of attempts or by a discard while it was in flight, which
    would say it never arrived."""
    delivered = attempt is not None and attempt.error is None
    # A wait our own guards gave (a held-back row) is not the receiver's.
    if attempt is not None and not attempt.held_back:
        _retry_after_kept(delivery, attempt, now)
    logger.error(
        "webhook delivery failed on our side",
        extra={
            "delivery_id": delivery.pk,
            "endpoint": delivery.endpoint.public_id,
            "error_type": type(exc).__name__,
        },
    )
    try:
        with transaction.atomic():
            status = rows.fail(
                delivery,
                exc,
                now,
                error_prefix=OUR_SIDE_ERROR,
                require_claim=True,
                give_up=not delivered,
                end_discarded=not delivered,
                **({} if attempt is None else _attempt_fields(attempt, now)),
            )
            if status == DeliveryStatus.FAILED:
                retry_schedule(delivery.pk, now)
    except ClaimLost:
        return None  # the sweeper took it back meanwhile
    except DatabaseError:
        # The lease ends it (the sweeper counts it as a lost worker).
        logger.exception(
            "webhook delivery error not recorded",
            extra={"delivery_id": delivery.pk},
        )
        return None
    return status


def _retry_after_kept(
    delivery: WebhookDelivery, attempt: Attempt, now: datetime
) -> None:
    """The receiver's wait, once more after a settle that failed (the first
    try came before it, so it is kept if the database took that one: the
    wait without its spread never lengthens it); an ERROR if it is lost
    after all: the row is retried on its schedule."""
    hold = _retry_after_due(attempt, now, spread=False)
    if hold is None:
        return
    try:
        _retry_after_held(delivery, attempt, now, hold)
    except DatabaseError as exc:
        logger.error(
            "webhook endpoint retry-after hold not recorded",
            extra={
                "endpoint": delivery.endpoint.public_id,
                "error_type": type(exc).__name__,
            },
        )


def _log(delivery: WebhookDelivery, attempt: Attempt, status: str) -> None:
    failed = attempt.error is not None
    (logger.warning if failed else logger.info)(
        "webhook delivery attempted",
        extra={
            "delivery_id": delivery.pk,
            "webhook_id": delivery.public_id,
            "endpoint": delivery.endpoint.public_id,
            "event_type": delivery.event_type,
            "status": status,
            "http_status": attempt.status_code,
            "attempts": delivery.attempts,
            "duration_ms": attempt.duration_ms,
            "error_code": attempt.error.code if failed else "",
        },
    )


def deliveries_resend(*, delivery_ids: list[int]) -> int:
    """Staff: send these deliveries again (same ``webhook-id``, fresh attempts);
    one in flight is left alone. Returns how many were queued."""
    with transaction.atomic():
        queued = WebhookDelivery.objects.filter(pk__in=delivery_ids).exclude(
            status=DeliveryStatus.DELIVERING
        )
        ids = list(queued.values_list("pk", flat=True))
        # Locked by id first: in its plan's order it deadlocked with the
        # sweep giving up the same rows (``sweep._give_up_old``).
        locked_update(
            WebhookDelivery.objects.filter(pk__in=ids).exclude(
                status=DeliveryStatus.DELIVERING
            ),
            status=DeliveryStatus.PENDING,
            attempts=0,
            next_attempt_at=None,
            waits_for_slot=False,  # queued now
            restarted_at=database_now(),  # the age limit counts from here
        )
        for delivery_id in ids:
            enqueue_on_commit(delivery_id)
    logger.info("webhook deliveries resent", extra={"count": len(ids)})
    return len(ids)
