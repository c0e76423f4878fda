"""An endpoint's Retry-After hold (``retry_after_until``): a failure answered
with a Retry-After holds every delivery to the endpoint until then (the
later of two waits); a success answered after that failure ends it (the
receiver takes deliveries again), and so can staff. Each change is one
conditional UPDATE on the answer's time (``retry_after_answered_at``), so an
older answer a worker settles later never undoes a newer one. Ending a hold
makes the rows it held due now; a success leaves the answered row its own
wait (the receiver asked it to wait), staff's lift does not."""

import logging
from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce, Greatest

from integrations.rows import locked_update
from storefront_hooks.models import WAITING, WebhookDelivery, WebhookEndpoint
from storefront_hooks.services.clock import database_now
from storefront_hooks.services.queue import enqueue_on_commit

logger = logging.getLogger(__name__)

# Why a row waits for its endpoint's Retry-After (staff read it on the row).
HELD_REASON = "the endpoint answered with a Retry-After"
HELD_PREFIX = "Held until "
# The answers whose Retry-After holds an endpoint (the row answered waits).
WAIT_STATUSES = (429, 503)


def held_error(until: datetime) -> str:
    """A held row's last error."""
    return f"{HELD_PREFIX}{_utc(until)}: {HELD_REASON}"


def hold_set(endpoint_id: int, due: datetime, answered: datetime) -> None:
    """Hold the endpoint until ``due`` (a failure answered at ``answered``
    asked for it), unless a success or a lift noted since that answer ended
    the hold. Held longer already, the hold keeps its end but notes this
    answer if newer: a success answered before it must not end the hold."""
    longer = Q(retry_after_until__isnull=True) | Q(retry_after_until__lt=due)
    not_ended_since = (
        Q(retry_after_until__isnull=False)
        | Q(retry_after_answered_at__isnull=True)
        | Q(retry_after_answered_at__lt=answered)
    )
    newer = Q(retry_after_answered_at__isnull=True) | Q(
        retry_after_answered_at__lt=answered
    )
    held_longer_older_note = Q(retry_after_until__gte=due) & newer
    newest = Greatest(Coalesce(F("retry_after_answered_at"), answered), answered)
    WebhookEndpoint.objects.filter(
        (longer & not_ended_since) | held_longer_older_note, pk=endpoint_id
    ).update(
        retry_after_until=Greatest(Coalesce(F("retry_after_until"), due), due),
        retry_after_answered_at=newest,
    )


def hold_end(endpoint_id: int, answered: datetime) -> bool:
    """A success answered at ``answered`` ends a hold an earlier answer set
    (a row in flight when the 429 came, answered after it: the receiver
    takes deliveries again). One statement, a no-op without a hold; on
    PostgreSQL's fast path the success's settle does the same in its own
    (``rows._relaxed_delivered``). Then call ``held_rows_released``."""
    # A hold from before its answer was noted (a deploy) is older too.
    before = Q(retry_after_answered_at__isnull=True)
    before |= Q(retry_after_answered_at__lt=answered)
    held = WebhookEndpoint.objects.filter(
        before, pk=endpoint_id, retry_after_until__isnull=False
    )
    return held.update(retry_after_until=None, retry_after_answered_at=answered) == 1


def held_rows_released(
    endpoint: WebhookEndpoint,
    at: datetime,
    why: str,
    *,
    held_until: datetime | None = None,
) -> int:
    """After a hold ended at ``at``: the rows put back for it (their last
    error says so), and with ``held_until`` (staff lifted a hold ending
    then) the rows whose 429 or 503 asked for a wait too (due by its end: a
    503 without a Retry-After on a longer schedule was not held), are due now,
    in one UPDATE of waiting rows only (one in flight is its worker's); the
    first batch enqueued, the sweep takes the rest. How many were enqueued."""
    endpoint.retry_after_until, endpoint.retry_after_answered_at = None, at
    held = Q(last_error__startswith=HELD_PREFIX)
    if held_until is not None:
        held |= Q(last_status_code__in=WAIT_STATUSES, next_attempt_at__lte=held_until)
    with transaction.atomic():  # the rows and their tasks together
        rows = WebhookDelivery.objects.filter(
            held, WAITING, endpoint=endpoint, next_attempt_at__gt=at
        )
        ids = list(
            rows.order_by("created_at", "pk").values_list("pk", flat=True)[
                : settings.STOREFRONT_WEBHOOK_SWEEP_BATCH
            ]
        )
        # Locked by id first: in its plan's order it deadlocked with the
        # sweep giving up the same rows (``sweep._give_up_old``).
        locked_update(rows, next_attempt_at=at)
        for delivery_id in ids:
            enqueue_on_commit(delivery_id)
    logger.info(
        "webhook endpoint retry-after hold ended",
        extra={"endpoint": endpoint.public_id, "why": why, "enqueued": len(ids)},
    )
    return len(ids)


def answered_row_held(delivery: WebhookDelivery, until: datetime) -> None:
    """The row whose answer asked for the wait ending at ``until`` waits for
    it too, unless the hold ended since (a lift, or a success answered
    later). In the settle's transaction: the endpoint's row is locked, so a
    lift waits for this commit and then finds the row (``WAIT_STATUSES``)."""
    held = WebhookEndpoint.objects.select_for_update(no_key=True).filter(
        pk=delivery.endpoint_id, retry_after_until__isnull=False
    )
    if held.values_list("pk", flat=True).first() is None:
        return
    WebhookDelivery.objects.filter(pk=delivery.pk, next_attempt_at__lt=until).update(
        next_attempt_at=until
    )


def held_row_recheck(delivery: WebhookDelivery, until: datetime) -> bool:
    """After ``delivery`` was put back for a hold ending at ``until`` (read
    with its claim): if a success or staff ended that hold meanwhile, their
    release may have run before the row was back, so it is due now. Whoever
    ends a hold later finds the row put back. Whether it was released."""
    held = WebhookEndpoint.objects.filter(
        pk=delivery.endpoint_id, retry_after_until__gte=until
    )
    if held.exists():
        return False
    with transaction.atomic():  # the row and its task together
        released = WebhookDelivery.objects.filter(
            WAITING, pk=delivery.pk, next_attempt_at=until, last_error=held_error(until)
        ).update(next_attempt_at=database_now())
        if released:
            enqueue_on_commit(delivery.pk)
    return released == 1


def endpoint_hold_lift(*, endpoint: WebhookEndpoint, actor: str) -> int:
    """Staff: end the endpoint's Retry-After hold now; the rows it held are
    due now. Returns how many were enqueued, -1 if it was not held (a hold
    that passed is none)."""
    now = database_now()
    held = WebhookEndpoint.objects.filter(pk=endpoint.pk, retry_after_until__gt=now)
    with transaction.atomic():  # the hold's end read and lifted together
        locked = held.select_for_update(no_key=True)
        until = locked.values_list("retry_after_until", flat=True).first()
        if until is None:
            return -1
        # Noted as an answer at ``now``: an older 429 settled later holds nothing.
        held.update(retry_after_until=None, retry_after_answered_at=now)
    logger.info(
        "webhook endpoint retry-after hold lifted",
        extra={"endpoint": endpoint.public_id, "actor": actor},
    )
    return held_rows_released(endpoint, now, f"lifted by {actor}", held_until=until)


def hold_text(endpoint: WebhookEndpoint, now: datetime) -> str:
    """For staff: until when and why the endpoint is held; "" if not (a hold
    that passed is none)."""
    until = endpoint.retry_after_until
    if until is None or until <= now:
        return ""
    answered = endpoint.retry_after_answered_at
    since = f" at {_utc(answered)}" if answered else ""
    return f"{HELD_PREFIX}{_utc(until)}: {HELD_REASON}{since}"


def hold_until(endpoint: WebhookEndpoint, now: datetime) -> datetime | None:
    """The hold's end, None if there is none or it passed."""
    until = endpoint.retry_after_until
    return until if until is not None and until > now else None


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
