"""Waking the sends that wait for a paused account (or for no usable one):
an email account became usable again (staff set its breaker back or enabled
it, a new one was added enabled, its breaker closed by itself after a
probe), so none waits out its growing wait (up to BATCH_DEFER_MAX_SECONDS).
The subscriber is ``notifications.wiring.email_wake``."""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone
from redis.exceptions import RedisError

from integrations.batch import batch_rows_wake
from integrations.clock import database_now
from notifications.models import BulkRecipient, EmailMessage, EmailStatus
from notifications.services.sending import email_messages_enqueue

logger = logging.getLogger(__name__)

# Single sends enqueued by one wake-up, as many as one sweep enqueues; the
# sweep takes the rest.
WAKE_ENQUEUED = 1000


def email_waiting_wake() -> int:
    """Make the single sends waiting for a paused account (``defers``: no
    account that could send them was asked) due now, and enqueue them on
    commit (the first WAKE_ENQUEUED; the sweep takes the rest); the bulk
    rows waiting alone for one too, their jobs enqueued. How many were
    woken. A wait a provider asked for (Retry-After) is kept. Sent once
    whoever enqueues it: each send claims its message first
    (``email_message_claim``), and each woken message is stamped so a
    second wake-up (or the sweep) before its task runs leaves it alone."""
    now, stamp = database_now(), timezone.now()
    singles = EmailMessage.objects.filter(bulk_send__isnull=True)
    # Sends under way first: one that met the pause before this wake-up and
    # records its wait after it is tried again at once (``retry_at`` on a
    # ``sending`` message, which its claim cleared: ``sending._next_try``).
    # Before the queued ones, so a send recording its wait between the two
    # statements is found queued by the second.
    singles.filter(status=EmailStatus.SENDING).update(retry_at=now)
    waiting = singles.filter(status=EmailStatus.QUEUED, defers__gt=0)
    woken = waiting.filter(retry_at__gt=now).update(retry_at=now, updated_at=stamp)
    # With them, any already due the sweep has not enqueued lately.
    stale = stamp - timedelta(seconds=settings.EMAIL_RETRY_AFTER_SECONDS)
    due = waiting.filter(retry_at__lte=now).filter(
        Q(retry_at=now) | Q(updated_at__lt=stale)
    )
    pks = list(due.order_by("pk").values_list("pk", flat=True)[:WAKE_ENQUEUED])
    waiting.filter(pk__in=pks).update(updated_at=stamp)
    email_messages_enqueue(pks)
    rows = batch_rows_wake(rows=BulkRecipient.objects.all())
    if woken or rows:
        logger.info("email waiting sends woken", extra={"woken": woken, "rows": rows})
    return woken + rows


def email_wake_allowed(account_slug: str) -> bool:
    """Whether a breaker closing by itself may wake the waiting sends now:
    once per EMAIL_WAKE_INTERVAL_SECONDS per account, stamped in the shared
    cache (a flapping breaker closes again and again). Without the cache
    (Redis down) it may: a wake-up too many costs a few sends' claims."""
    interval = settings.EMAIL_WAKE_INTERVAL_SECONDS
    if interval <= 0:
        return True
    try:
        return bool(cache.add(_stamp_key(account_slug), 1, interval))
    except RedisError:
        logger.warning("email wake stamp not read", extra={"account": account_slug})
        return True


def email_wake_allowed_again(account_slug: str) -> None:
    """Give back the stamp ``email_wake_allowed`` set, for a wake-up that
    failed (rolled back): its delivery's retry then wakes the sends."""
    try:
        cache.delete(_stamp_key(account_slug))
    except RedisError:
        logger.warning("email wake stamp kept", extra={"account": account_slug})


def _stamp_key(account_slug: str) -> str:
    return f"notifications:wake:{account_slug}"
