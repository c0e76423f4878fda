"""ERP webhooks -> stock levels. Registered for ``inventory.updated`` in
``SWITCHYARD_WEBHOOK_HANDLERS["inventory"]``; the intake has verified and
stored the event and runs this in the transaction that marks it processed.

Levels are applied by the same rules as a sync (``stock_levels_apply``):
reservations are kept, a level older than the stored one is ignored (a late
or replayed event changes nothing). A level without its own modification
time takes the event's."""

import logging
from dataclasses import replace

from django.utils import timezone

from integrations import registry
from integrations.models import WebhookEvent
from integrations.webhooks.messages import WebhookMessage
from inventory import services
from inventory.providers.base import InventoryAdapter

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
    when = parsed.occurred_at or event.occurred_at
    levels = [
        level if level.modified_at or when is None else replace(level, modified_at=when)
        for level in parsed.levels
    ]
    result = services.stock_levels_apply(
        account=event.account, records=levels, now=timezone.now()
    )
    logger.info(
        "inventory webhook applied",
        extra={
            "webhook_event_id": event.pk,
            "seen": result.seen,
            "changed": result.changed,
            "ignored": result.ignored,
        },
    )
