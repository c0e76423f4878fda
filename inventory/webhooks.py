"""ERP webhooks -> stock levels. Registered for ``inventory.updated`` in
``SWITCHYARD_WEBHOOK_HANDLERS["inventory"]``; the intake has verified and
stored the event and runs this in the transaction that marks it processed.

Levels are applied by the same rules as a sync (``stock_levels_apply``):
reservations are kept, a level older than the stored one is ignored (a late
or replayed event changes nothing). A level without its own modification
time takes the event's. A level our columns cannot hold (``RejectedLevel``)
is left out and named in the event's note; the others are applied. The
adapter reads the payload as the ERP sent it (the raw body): one with a NUL
or lone surrogate is refused, a real U+FFFD is a character like any other."""

import logging
from dataclasses import replace
from typing import Any

from integrations.clock import database_now
from integrations.errors import ProviderError
from integrations.models import WebhookEvent
from integrations.webhooks.errors import (
    UnprocessableEvent,
    handler_adapter,
    payload_read,
)
from integrations.webhooks.messages import WebhookMessage, json_object, storable
from integrations.webhooks.verification import WebhookVerificationError
from inventory import services
from inventory.providers.base import (
    InventoryAdapter,
    InventoryEvent,
    RejectedLevel,
    StockLevelRecord,
)

logger = logging.getLogger(__name__)

UNREADABLE = "inventory event unreadable"
# An adapter's "this event cannot be read" (the generic stock service's, and
# TradeGecko's for a variant event naming no variant). TradeGecko's
# malformed_response is left out: TradeGecko's reading asks the ERP, and an
# unreadable answer (a proxy's page) may be the variant on a later try.
MALFORMED_EVENT = "malformed_event"


def inventory_webhook_handle(event: WebhookEvent) -> None:
    # Read by ``prepare``; read here when the handler is called alone.
    parsed, as_sent = getattr(event, "inventory_read", None) or _read(event)
    if parsed is None:
        logger.info(
            "inventory webhook ignored",
            extra={"webhook_event_id": event.pk, "event_type": event.event_type},
        )
        return
    if parsed.gone:
        _note_gone(event, parsed.gone)
        return
    levels, rejected = parsed.levels, parsed.rejected
    if not as_sent:
        levels, rejected = _replaced_refused(levels, rejected)
    if rejected:
        _note_rejected(event, rejected)
    # Read by iso_time or unix_time: in years 1-9999 in UTC, as a level's own.
    # The database's time, which holds expire and acknowledgements are
    # stamped by: not this worker's clock.
    now = database_now()
    when = parsed.occurred_at or event.occurred_at
    levels = [
        level if level.modified_at or when is None else replace(level, modified_at=when)
        for level in levels
    ]
    result = services.stock_levels_apply(
        account=event.account, records=levels, now=now, arrived_at=event.received_at
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


def _read(event: WebhookEvent) -> tuple[InventoryEvent | None, bool]:
    """The adapter's reading of the event (None: a type it ignores), and
    whether it read the payload as the ERP sent it."""
    adapter = handler_adapter(event, InventoryAdapter)
    payload, as_sent = _payload_as_sent(event)
    message = WebhookMessage(
        event_type=event.event_type,
        dedupe_key=event.dedupe_key,
        payload=payload,
        occurred_at=event.occurred_at,
    )
    return _parsed(adapter, message), as_sent


def _parsed(
    adapter: InventoryAdapter, message: WebhookMessage
) -> InventoryEvent | None:
    """The adapter's reading; a payload it can never read is
    UnprocessableEvent (stored dead at once), anything else is retried."""
    with payload_read(UNREADABLE, malformed_code=False):
        try:
            return adapter.parse_inventory_event(message)
        except ProviderError as exc:
            if exc.code != MALFORMED_EVENT:
                raise
            raise UnprocessableEvent(f"{UNREADABLE}: {exc}") from exc


def _read_first(event: WebhookEvent) -> None:
    """Before the handler's transaction (``prepare``): reading an event may
    ask the ERP (TradeGecko's names a variant, read back), and no
    transaction stays open on that call."""
    event.inventory_read = _read(event)  # type: ignore[attr-defined]


inventory_webhook_handle.prepare = _read_first  # type: ignore[attr-defined]


def _payload_as_sent(event: WebhookEvent) -> tuple[dict[str, Any], bool]:
    """The event's payload as the ERP sent it, and whether it is. The intake
    stored it with NULs and lone surrogates replaced by U+FFFD (``storable``:
    jsonb holds neither), which would merge the ERP's SKUs 'A\\x00' and
    'A\\ud800' into one; the raw body (an inventory adapter's request carries
    one message, stored as received) tells them from a real U+FFFD."""
    try:
        sent = json_object(bytes(event.raw_body or b""))
    except WebhookVerificationError:
        return event.payload, False
    if storable(sent) != event.payload:
        return event.payload, False
    return sent, True


def _replaced_refused(
    levels: tuple[StockLevelRecord, ...], rejected: tuple[RejectedLevel, ...]
) -> tuple[tuple[StockLevelRecord, ...], tuple[RejectedLevel, ...]]:
    """Without the raw body, a U+FFFD in a SKU or location may be a NUL or
    lone surrogate the intake replaced: such a level is refused, not merged."""
    kept, refused = [], []
    for level in levels:
        if "\ufffd" in level.sku + level.location_code:
            refused.append(
                RejectedLevel(
                    sku=level.sku[:64],
                    location_code=level.location_code[:64],
                    reason="holds U+FFFD (perhaps a NUL or lone surrogate replaced)",
                )
            )
        else:
            kept.append(level)
    return tuple(kept), (*rejected, *refused)


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


def _note_gone(event: WebhookEvent, gone: str) -> None:
    """An item deleted at the ERP: no level changes here (its SKU is not
    known, and the full sync decides, ``sync_gone``), but staff see it on the
    event now, not only at the next full sync."""
    logger.warning(
        "inventory webhook names an item gone at the ERP",
        extra={"webhook_event_id": event.pk, "item": gone},
    )
    event.note = (
        f"not applied: {gone} deleted at the ERP; the next full sync sets "
        "the levels it no longer lists to 0"
    )[:255]
