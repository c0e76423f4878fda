"""ERP stock figures into our stock levels: the one path for syncs and
``inventory.updated`` webhooks.

On-hand is the ERP's figure less the units sold here that it does not show
yet (``sold``: a sync never gives sold units back); ``reserved`` is ours and
is never written here, so a sync that lowers on-hand keeps every reservation
(a level left with fewer units than reserved is flagged oversold and
announced, not refused). A record older than what is stored (by the ERP's
last-modified time), current before the ERP last acknowledged a confirm of
the level, or while one awaits the ERP's answer (``sold.figure_stale``), is
ignored; a stored time past now + ``FAR_FUTURE`` (an ERP data bug) orders
only incoming times as far ahead (``modified_before``). Each call locks the
existing rows it updates (pk order, like reservations) and writes them
together: on PostgreSQL in one raw upsert (``apply_pg``), elsewhere in one
``bulk_upsert`` of model instances.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction

from integrations.models import ProviderAccount
from integrations.rows import bulk_upsert
from inventory.models import Location, StockLevel
from inventory.providers.base import StockLevelRecord, modified_before
from inventory.services.apply_pg import apply_page_pg
from inventory.services.levels import (
    expired_holds,
    level_state,
    levels_announce,
    stock_state,
)
from inventory.services.reservations import locked_levels
from inventory.services.sold import figure_stale, off_sale_on_hand, unseen_kept

logger = logging.getLogger(__name__)

WRITTEN_FIELDS = (
    "on_hand",
    "erp_modified_at",
    "synced_at",
    "source",
    "state",
    "sold_unseen",
    "sold_unseen_at",
)


@dataclass(frozen=True)
class ApplyResult:
    seen: int
    changed: int  # on-hand differed
    ignored: int  # older than stored
    newest: datetime | None  # latest ERP modification time among the records


def stock_levels_apply(
    *,
    account: ProviderAccount | None,
    records: Sequence[StockLevelRecord],
    now: datetime,
    as_of: datetime | None = None,
    answered_at: datetime | None = None,
    arrived_at: datetime | None = None,
) -> ApplyResult:
    """Apply ERP levels (a page of a sync, or a webhook's) in one transaction.
    ``as_of``: the earliest the figures may be current (a sync: when it asked
    for the page; None takes each record's modification time);
    ``answered_at``: the latest (when the page's answer came; None: as_of);
    ``arrived_at``: a webhook's, when it reached us (None: ``now``)."""
    latest = _latest_per_key(records)
    newest = max((r.modified_at for r in records if r.modified_at), default=None)
    if not latest:
        return ApplyResult(seen=0, changed=0, ignored=0, newest=newest)
    with transaction.atomic():
        locations = _locations({code for _, code in latest}, now)
        keys = {(sku, locations[code].pk): rec for (sku, code), rec in latest.items()}
        if connection.vendor == "postgresql":
            changed, ignored = apply_page_pg(
                keys=keys,
                locations=locations,
                account=account,
                now=now,
                as_of=as_of,
                answered_at=answered_at,
                arrived_at=arrived_at,
            )
        else:
            changed, ignored = _apply_page_orm(
                keys, locations, account, now, (as_of, answered_at, arrived_at)
            )
    return ApplyResult(
        seen=len(records), changed=changed, ignored=ignored, newest=newest
    )


def _apply_page_orm(
    keys: dict[tuple[str, int], StockLevelRecord],
    locations: dict[str, Location],
    account: ProviderAccount | None,
    now: datetime,
    window: tuple[datetime | None, datetime | None, datetime | None],
) -> tuple[int, int]:
    """Model instances and ``bulk_upsert`` (SQLite); (changed, ignored).
    ``window``: (as_of, answered_at, arrived_at) of ``stock_levels_apply``."""
    as_of, answered_at, arrived_at = window
    existing = _existing_locked(keys)
    expired = expired_holds([level.pk for level in existing.values()], now)
    rows, announce, changed, ignored = [], [], 0, 0
    for key, record in keys.items():
        level = existing.get(key)
        if level is None:
            rows.append(_new_level(record, locations, account, now))
            changed += 1
            continue
        if _older(record, level, now) or figure_stale(
            record,
            as_of,
            level.erp_acked_at,
            level.erp_confirm_sent_at,
            answered_at,
            now=now,
            arrived_at=arrived_at,
            acked_erp_at=level.erp_acked_modified_at,
        ):
            ignored += 1
            continue
        unseen = _unseen_kept(record, level)
        on_hand = record.on_hand - level.sold_unsent - unseen
        if not record.for_sale:
            on_hand, unseen = off_sale_on_hand(level.on_hand), level.sold_unseen
        if (on_hand, unseen) == (level.on_hand, level.sold_unseen) and not _newer(
            record, level
        ):
            continue
        changed += level.on_hand != on_hand
        previous = level.state
        level.on_hand, level.sold_unseen = on_hand, unseen
        level.sold_unseen_at = level.sold_unseen_at if unseen else None
        level.erp_modified_at = record.modified_at or level.erp_modified_at
        level.synced_at, level.source = now, account
        level.state = level_state(level, expired)
        rows.append(level)
        if level.state != previous:
            announce.append((level, previous))
    if rows:
        bulk_upsert(
            StockLevel,
            rows,
            unique_fields=["sku", "location"],
            update_fields=WRITTEN_FIELDS,
            batch_size=1000,
        )
    levels_announce(announce, expired=expired)
    return changed, ignored


def _unseen_kept(record: StockLevelRecord, level: StockLevel) -> int:
    return unseen_kept(
        record,
        on_hand=level.on_hand,
        unsent=level.sold_unsent,
        unseen=level.sold_unseen,
        unseen_at=level.sold_unseen_at,
        modified_at=level.erp_modified_at,
    )


def _latest_per_key(
    records: Sequence[StockLevelRecord],
) -> dict[tuple[str, str], StockLevelRecord]:
    latest: dict[tuple[str, str], StockLevelRecord] = {}
    for record in records:
        key = (record.sku, record.location_code)
        known = latest.get(key)
        if known is None or not _before(record.modified_at, known.modified_at):
            latest[key] = record
    return latest


def _before(a: datetime | None, b: datetime | None) -> bool:
    return a is not None and b is not None and a < b


def _older(record: StockLevelRecord, level: StockLevel, now: datetime) -> bool:
    return modified_before(record.modified_at, level.erp_modified_at, now)


def _newer(record: StockLevelRecord, level: StockLevel) -> bool:
    # Not older (checked first): a time that moves, forwards or past a stored
    # far-future one, is written even when the figure is the same.
    return record.modified_at is not None and record.modified_at != (
        level.erp_modified_at
    )


def _locations(codes: set[str], now: datetime) -> dict[str, Location]:
    """The locations by code; one the ERP names that we do not know yet is
    created inactive (lowest priority): its stock is not sellable until
    staff, told by the log and the admin, set it up and enable it."""
    found = {loc.code: loc for loc in Location.objects.filter(code__in=codes)}
    for code in sorted(codes - set(found)):
        found[code], created = Location.objects.get_or_create(
            code=code,
            defaults={
                "name": code,
                "priority": 1000,
                "active": False,
                "discovered_at": now,
            },
        )
        if created:
            logger.warning(
                "inventory location created inactive", extra={"location": code}
            )
    return found


def _existing_locked(
    keys: dict[tuple[str, int], StockLevelRecord],
) -> dict[tuple[str, int], StockLevel]:
    # By SKU alone (one array parameter, not two): the few other locations'
    # rows of these SKUs are dropped here.
    skus = {sku for sku, _ in keys}
    pks = [
        pk
        for pk, sku, loc in StockLevel.objects.filter(sku__in=skus).values_list(
            "pk", "sku", "location_id"
        )
        if (sku, loc) in keys
    ]
    return {(lv.sku, lv.location_id): lv for lv in locked_levels(pks).values()}


def _new_level(
    record: StockLevelRecord,
    locations: dict[str, Location],
    account: ProviderAccount | None,
    now: datetime,
) -> StockLevel:
    # A level we never had: its state is set, not announced (no previous one).
    threshold = settings.INVENTORY_LOW_STOCK_THRESHOLD
    return StockLevel(
        sku=record.sku,
        location=locations[record.location_code],
        # SQLite runs writers one at a time: the flag read is still current.
        location_active=locations[record.location_code].active,
        on_hand=record.on_hand,
        low_threshold=threshold,
        state=stock_state(on_hand=record.on_hand, reserved=0, low_threshold=threshold),
        source=account,
        erp_modified_at=record.modified_at,
        synced_at=now,
    )
