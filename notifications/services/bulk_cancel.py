"""A cancelled bulk send's messages still handed back (``queued``): ended.

A row's message goes back ``queued`` while its row waits (paced, backing
off, waiting alone for a paused account: ``bulk_send``). Once the send is
cancelled no worker works that row again, and the single sweeper leaves bulk
messages to their job: without this the message would stay ``queued`` for
ever, shown ``waiting``. It ends ``failed`` with ``bulk_cancelled``, its
event recorded; a message a worker claimed meanwhile (locked, or ``sending``
by now) is left to finish, as the cancel promises.
"""

import logging

from django.db import transaction
from django.utils import timezone

from notifications.models import BulkSend, EmailEvent, EmailMessage, EmailStatus

logger = logging.getLogger(__name__)

BULK_CANCELLED = "bulk_cancelled"
REASON = "the bulk send was cancelled before this message went out"
# Messages ended per statement: one request's cancel ends this many at most,
# the every-minute sweep (email_messages_sweep) the rest.
_BATCH = 1000


def bulk_cancelled_messages_end(
    *, bulk_send: BulkSend | None = None, batches: int = 1
) -> int:
    """End the ``queued`` messages of cancelled bulk sends (of ``bulk_send``
    alone when given), ``batches`` times ``_BATCH`` at most; how many."""
    found = EmailMessage.objects.filter(
        status=EmailStatus.QUEUED,
        bulk_send__isnull=False,
        bulk_send__job__cancel_requested=True,
    )
    if bulk_send is not None:
        found = found.filter(bulk_send=bulk_send)
    ended = 0
    for _ in range(batches):
        with transaction.atomic():
            # A worker claiming one (queued -> sending) holds its lock: skipped.
            locked = found.select_for_update(skip_locked=True, of=("self",))
            ids = list(locked.values_list("pk", flat=True)[:_BATCH])
            if not ids:
                break
            now = timezone.now()
            EmailMessage.objects.filter(pk__in=ids).update(
                status=EmailStatus.FAILED,
                error_code=BULK_CANCELLED,
                last_error=REASON,
                retry_at=None,
                updated_at=now,
            )
            details = {"code": BULK_CANCELLED, "reason": REASON}
            EmailEvent.objects.bulk_create(
                EmailEvent(message_id=pk, type=EmailStatus.FAILED, details=details)
                for pk in ids
            )
        ended += len(ids)
    if ended:
        logger.info("cancelled bulk messages ended", extra={"count": ended})
    return ended
