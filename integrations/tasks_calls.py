"""Housekeeping of the provider-call log (django-q2 task, daily schedule)."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from integrations.models import ProviderCall

logger = logging.getLogger(__name__)

# Delete in slices so a large backlog never holds one long lock on the table.
PRUNE_BATCH = 5000


def prune_provider_calls(*, now: datetime | None = None) -> int:
    """Delete ProviderCall rows started more than PROVIDER_CALL_RETENTION_DAYS
    ago; return how many were deleted."""
    cutoff = (now or timezone.now()) - timedelta(
        days=settings.PROVIDER_CALL_RETENTION_DAYS
    )
    old = ProviderCall.objects.filter(started_at__lt=cutoff)
    deleted = 0
    while True:
        ids = list(old.values_list("pk", flat=True)[:PRUNE_BATCH])
        if not ids:
            break
        deleted += ProviderCall.objects.filter(pk__in=ids).delete()[0]
    logger.info(
        "provider calls pruned",
        extra={"deleted": deleted, "cutoff": cutoff.isoformat()},
    )
    return deleted
