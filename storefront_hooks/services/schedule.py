"""A failed delivery's next try and its endpoint's failing streak: what
``deliveries`` settles and the sweep (``sweep``) counts for a lost worker."""

from datetime import datetime, timedelta

from django.conf import settings

from storefront_hooks.models import (
    STREAK_DISABLED_PREFIX,
    WebhookDelivery,
    WebhookEndpoint,
)
from storefront_hooks.services.endpoints import endpoint_disable
from storefront_hooks.services.queue import enqueue_at
from storefront_hooks.transport import Attempt


def retry_schedule(
    delivery_id: int, now: datetime, due: datetime | None = None
) -> None:
    # The first steps (5 s, 5 min) would otherwise wait for the next sweep.
    if due is None:
        due = (
            WebhookDelivery.objects.filter(pk=delivery_id)
            .values_list("next_attempt_at", flat=True)
            .first()
        )
    limit = timedelta(seconds=settings.STOREFRONT_WEBHOOK_SCHEDULED_RETRY_MAX_SECONDS)
    # One due already is the sweep's (a lost worker's row, found late).
    if due is not None and now < due <= now + limit:
        enqueue_at(delivery_id, due)


def endpoint_failure_count(
    endpoint: WebhookEndpoint, attempt: Attempt, now: datetime
) -> None:
    """Count a failed attempt made at ``now`` towards the endpoint's failing
    streak: 410 disables it at once, a streak of the configured hours too."""
    stored = WebhookEndpoint.objects.filter(pk=endpoint.pk)
    # Decided on the stored streak, read under the row's lock to the caller's
    # commit: since this worker loaded the endpoint, a success may have ended
    # it or the end of a pause moved it on.
    locked = stored.select_for_update().values_list("failing_since", "paused_since")
    since, paused_since = locked.get()
    if since is None:
        stored.update(failing_since=now)
        since = now
    endpoint.failing_since = since
    if attempt.gone:
        endpoint_disable(
            endpoint=endpoint, reason="The endpoint answered 410 Gone.", now=now
        )
        return
    hours = settings.STOREFRONT_WEBHOOK_DISABLE_AFTER_HOURS
    # A pause whose end is not noted yet would count toward the streak: the
    # first failure after its end (the sweep notes it) decides.
    if paused_since is None and since <= now - timedelta(hours=hours):
        code = attempt.error.code if attempt.error else ""
        endpoint_disable(
            endpoint=endpoint,
            reason=f"{STREAK_DISABLED_PREFIX}{hours} hours (last error: {code}).",
            now=now,
        )
