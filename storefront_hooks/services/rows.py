"""The delivery rows' life cycle: the core's leased rows, with the retry
schedule of the issue (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, ... with jitter)
instead of plain doubling, and nothing claimed or swept for a disabled
endpoint (its rows wait until it is enabled)."""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, QuerySet

from integrations.leases import LeasedRows
from integrations.models import DeliveryStatus
from storefront_hooks.models import WebhookDelivery

# Each delay is drawn from +-20 % of its step, so endpoints that failed
# together do not all come back in the same second.
JITTER = 0.2


def retry_delay_for(attempts: int, *, jitter: float | None = None) -> timedelta:
    """The wait after the ``attempts``-th failed attempt."""
    schedule: list[int] = settings.STOREFRONT_WEBHOOK_RETRY_SCHEDULE
    step = schedule[min(max(attempts, 1), len(schedule)) - 1]
    factor = random.uniform(1 - JITTER, 1 + JITTER) if jitter is None else jitter
    return timedelta(seconds=step * factor)


@dataclass(frozen=True)
class DeliveryRows(LeasedRows):
    def retry_delay(self, attempts: int) -> timedelta:
        return retry_delay_for(attempts)

    def claim(self, pk: int, now: datetime) -> bool:
        updated = self.model.objects.filter(
            pk=pk, status__in=[self.waiting, self.failed], endpoint__enabled=True
        ).update(status=self.running, claimed_at=now, attempts=F("attempts") + 1)
        return updated == 1

    def due(self, now: datetime) -> QuerySet:
        return super().due(now).filter(endpoint__enabled=True)


rows = DeliveryRows(
    model=WebhookDelivery,
    waiting=DeliveryStatus.PENDING,
    running=DeliveryStatus.DELIVERING,
    failed=DeliveryStatus.FAILED,
    dead=DeliveryStatus.DEAD,
    created_field="created_at",
    settings_prefix="STOREFRONT_WEBHOOK",
    lease_setting="STOREFRONT_WEBHOOK_LEASE_SECONDS",
    lost_error="worker lost while delivering (claim expired)",
)
