"""ERP webhooks -> stock levels. Registered for ``inventory.updated`` in
``SWITCHYARD_WEBHOOK_HANDLERS["inventory"]``; the intake has verified and
stored the event and runs this in the transaction that marks it processed.

Levels are applied by the same rules as a sync (``stock_levels_apply``):
reservations are kept, a level older than the stored one is ignored (a late
or replayed event changes nothing). A level without its own modification
time takes the event's. A level our columns cannot hold (``RejectedLevel``)
is left out and named in the event's note; the others are applied."""

import logging
from dataclasses import replace

from django.utils import timezone

from integrations import registry
from integrations.models import WebhookEvent
from integrations.webhooks.messages import WebhookMessage
from inventory import services
from inventory.providers.base import InventoryAdapter, RejectedLevel

logger = logging.getLogger(__name__)


def inventory_webhook_handle(event: WebhookEvent) -> None:
    adapter = registry.get_adapter(event.account)
    if not isinstance(adapter, InventoryAdapter):
        raise TypeError("inventory webhook handler called for a non-inventory account")
    message = WebhookMessage(
        event_type=event.event_type,
        dedupe_key=event.dedupe_key,
        payload=event.payload,
        occurred_at=event.occurred_at,
    )
    parsed = adapter.parse_inventory_event(message)
    if parsed is None:
        logger.info(
            "inventory webhook ignored",
            extra={"webhook_event_id": event.pk, "event_type": event.event_type},
        )
        return
    if parsed.rejected:
        _note_rejected(event, parsed.rejected)
    # Read by iso_time or unix_time: in years 1-9999 in UTC, as a level's own.
    now = timezone.now()
    when = parsed.occurred_at or event.occurred_at
    levels = [
        level if level.modified_at or when is None else replace(level, modified_at=when)
        for level in parsed.levels
    ]
    result = services.stock_levels_apply(account=event.account, records=levels, now=now)
    logger.info(
        "inventory webhook applied",
        extra={
            "webhook_event_id": event.pk,
            "seen": result.seen,
            "changed": result.changed,
            "ignored": result.ignored,
        },
    )


def _note_rejected(event: WebhookEvent, rejected: tuple[RejectedLevel, ...]) -> None:
    """Levels our columns cannot hold (the adapter's event left them out):
    the same every time, so the event is processed with them named in its
    note for staff, not retried until dead with its valid levels unapplied."""
    for level in rejected:
        logger.warning(
            "inventory webhook level refused",
            extra={
                "webhook_event_id": event.pk,
                "sku": level.sku,
                "reason": level.reason,
            },
        )
    count = f"{len(rejected)} level{'s' if len(rejected) > 1 else ''} refused"
    named = "; ".join(f"{r.sku}@{r.location_code} {r.reason}" for r in rejected)
    event.note = f"{count}: {named}"[:255]
