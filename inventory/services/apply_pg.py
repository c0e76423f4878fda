"""The PostgreSQL path of ``stock_levels_apply``: three statements per page.

0. ``SELECT ... FROM inventory_location ... ORDER BY id FOR SHARE``: the
   page's locations, share-locked first (the lock order of
   ``location_active_set``: locations, then levels), so a level created here
   gets its location's ``active`` as it stays until the commit: a switch
   waits for the page, or the page for the switch and then reads its outcome.
1. ``SELECT ... JOIN unnest(keys) ... ORDER BY id FOR UPDATE`` locks the
   page's existing levels in pk order (like every other writer of levels)
   and reads what the decisions need: on-hand, modification time, state.
2. ``INSERT ... SELECT FROM json_to_recordset(rows) ON CONFLICT DO UPDATE ... WHERE``
   writes the rows that changed, computing each level's state in SQL (expired
   holds counted as free) and ``RETURNING`` it, so Python compares states
   only for the rows written and builds no model instances.

The rules are the ORM path's (``apply.py``): ``reserved`` is never written, an
older record is ignored (also in the statement's ``WHERE``, for a row another
transaction created after step 1), so is one current before the ERP last
acknowledged a confirm of the level or while one awaits its answer, the
ERP's figure is stored less the units sold here that it does not show yet
(``sold``), a level we never had gets its state without an event.
"""

import json
import logging
from dataclasses import dataclass, replace
from datetime import datetime

from django.conf import settings
from django.db import connection

from integrations.models import ProviderAccount
from inventory.models import (
    Location,
    Reservation,
    ReservationLine,
    ReservationStatus,
    StockLevel,
    StockState,
)
from inventory.providers.base import FAR_FUTURE, StockLevelRecord, modified_before
from inventory.services.levels import expired_holds, levels_announce
from inventory.services.sold import figure_stale, off_sale_on_hand, unseen_kept

logger = logging.getLogger(__name__)

Key = tuple[str, int]  # (sku, location id)


def _state_case(available: str, threshold: str) -> str:
    """SQL for ``levels.stock_state`` of an ``available`` expression (on
    hand counted from 0: a negative ERP figure oversells none of ours)."""
    return (
        f"CASE WHEN {available} < 0 THEN '{StockState.OVERSOLD.value}' "
        f"WHEN {available} = 0 THEN '{StockState.OUT_OF_STOCK.value}' "
        f"WHEN {available} <= {threshold} THEN '{StockState.LOW.value}' "
        f"ELSE '{StockState.IN_STOCK.value}' END"
    )


# Only table names and state constants are interpolated; values are parameters.
LEVELS = StockLevel._meta.db_table
LOCATIONS_SQL = (
    f"SELECT id, active FROM {Location._meta.db_table} "  # noqa: S608
    "WHERE id = ANY(%s) ORDER BY id FOR SHARE"
)
# Each key found through the unique index (OFFSET 0 keeps the lookup a
# per-key index probe: a join would seq-scan the table for every page), then
# the rows locked by pk in pk order.
LOCK_SQL = (
    "SELECT s.id, s.sku, s.location_id, s.on_hand, s.state, s.erp_modified_at, "  # noqa: S608
    "s.sold_unsent, s.sold_unseen, s.sold_unseen_at, s.erp_acked_at, "
    "s.erp_confirm_sent_at, s.erp_acked_modified_at "
    f"FROM {LEVELS} s WHERE s.id = ANY(ARRAY(SELECT f.id "
    "FROM unnest(%s::varchar[], %s::bigint[]) AS k(sku, loc) CROSS JOIN LATERAL "
    f"(SELECT x.id FROM {LEVELS} x WHERE x.sku = k.sku AND x.location_id = k.loc "
    "OFFSET 0) AS f)) ORDER BY s.id FOR UPDATE"
)
# Units of this level's active reservations past their time: free again.
EXPIRED_SQL = (
    f"COALESCE((SELECT SUM(l.quantity) FROM {ReservationLine._meta.db_table} l "  # noqa: S608
    f"JOIN {Reservation._meta.db_table} v ON v.id = l.reservation_id "
    f"WHERE l.stock_level_id = s.id AND v.status = '{ReservationStatus.ACTIVE.value}'"
    " AND v.expires_at <= %(now)s), 0)"
)
# The ERP's figure less what it does not show yet: the unsent units as they
# are now (a row created after step 1 is locked only here), the unseen ones
# as step 1 decided (EXCLUDED.sold_unseen: kept or cleared).
ON_HAND_SQL = "EXCLUDED.on_hand - s.sold_unsent - EXCLUDED.sold_unseen"
# Only a level with reserved units can hold expired ones: skip the read
# (OFFSET 0 below: run it once, not once per CASE branch).
AVAILABLE_SQL = (
    f"GREATEST({ON_HAND_SQL}, 0) - s.reserved "
    f"+ CASE WHEN s.reserved = 0 THEN 0 ELSE {EXPIRED_SQL} END"
)
UPSERT_SQL = (
    f"INSERT INTO {LEVELS} AS s (sku, location_id, on_hand, reserved, "  # noqa: S608
    "low_threshold, state, source_id, erp_modified_at, synced_at, updated_at, "
    "sold_unseen, location_active) "
    "SELECT r.sku, r.loc, r.on_hand, 0, %(threshold)s, "
    f"{_state_case('GREATEST(r.on_hand, 0)', '%(threshold)s')}, "
    "%(source)s, r.modified, %(now)s, %(now)s, r.unseen, r.active "
    "FROM json_to_recordset(%(rows)s::json) AS r(sku varchar, loc bigint, "
    "on_hand int, modified timestamptz, unseen int, active bool) "
    "ORDER BY r.sku, r.loc "
    f"ON CONFLICT (sku, location_id) DO UPDATE SET on_hand = {ON_HAND_SQL}, "
    "sold_unseen = EXCLUDED.sold_unseen, sold_unseen_at = CASE "
    "WHEN EXCLUDED.sold_unseen = 0 THEN NULL ELSE s.sold_unseen_at END, "
    "erp_modified_at = COALESCE(EXCLUDED.erp_modified_at, s.erp_modified_at), "
    "synced_at = EXCLUDED.synced_at, source_id = EXCLUDED.source_id, "
    "updated_at = EXCLUDED.updated_at, "
    f"state = (SELECT {_state_case('x.a', 's.low_threshold')} "
    f"FROM (SELECT {AVAILABLE_SQL} AS a OFFSET 0) AS x) "
    "WHERE EXCLUDED.erp_modified_at IS NULL OR s.erp_modified_at IS NULL "
    "OR EXCLUDED.erp_modified_at >= s.erp_modified_at "
    "OR (s.erp_modified_at > %(horizon)s AND EXCLUDED.erp_modified_at <= %(horizon)s) "
    "RETURNING s.id, s.sku, s.location_id, s.on_hand, s.reserved, s.state, "
    "s.low_threshold, s.xmax = 0"
)


@dataclass(frozen=True)
class Stored:
    pk: int
    on_hand: int
    state: str
    modified_at: datetime | None
    unsent: int
    unseen: int
    unseen_at: datetime | None
    acked_at: datetime | None
    sent_at: datetime | None
    acked_erp_at: datetime | None


Write = tuple[Key, StockLevelRecord, int]  # the sold_unseen kept


def _figure_and_unseen(
    record: StockLevelRecord, stored
) -> tuple[StockLevelRecord, int]:
    """The record to write and the unseen units it keeps."""
    if not record.for_sale:
        # Off sale: 0 here, or a backlog kept (off_sale_on_hand), as the
        # statement computes it (figure less unsent and unseen), its unseen
        # units kept (apply.py).
        on_hand = stored.unsent + stored.unseen + off_sale_on_hand(stored.on_hand)
        return replace(record, on_hand=on_hand), stored.unseen
    unseen = unseen_kept(
        record,
        on_hand=stored.on_hand,
        unsent=stored.unsent,
        unseen=stored.unseen,
        unseen_at=stored.unseen_at,
        modified_at=stored.modified_at,
    )
    return record, unseen


def apply_page_pg(
    *,
    keys: dict[Key, StockLevelRecord],
    locations: dict[str, Location],
    account: ProviderAccount | None,
    now: datetime,
    as_of: datetime | None = None,
    answered_at: datetime | None = None,
    arrived_at: datetime | None = None,
) -> tuple[int, int]:
    """Write one page (inside the caller's transaction); (changed, ignored).
    ``as_of`` to ``answered_at``: when the figures may have been current
    (``sold.figure_stale``); ``arrived_at``: a webhook's arrival."""
    active = _lock_locations({loc for _, loc in keys})
    existing = _lock_existing(keys)
    writes: list[Write] = []
    changed = ignored = 0
    for key, record in sorted(keys.items()):
        stored = existing.get(key)
        if stored is None:
            writes.append((key, record, 0))
            changed += 1
            continue
        if modified_before(record.modified_at, stored.modified_at, now) or figure_stale(
            record,
            as_of,
            stored.acked_at,
            stored.sent_at,
            answered_at,
            now=now,
            arrived_at=arrived_at,
            acked_erp_at=stored.acked_erp_at,
        ):
            ignored += 1
            continue
        record, unseen = _figure_and_unseen(record, stored)
        on_hand = record.on_hand - stored.unsent - unseen
        if (
            on_hand != stored.on_hand
            or unseen != stored.unseen
            or _after(record, stored)
        ):
            writes.append((key, record, unseen))
            changed += stored.on_hand != on_hand
    if writes:
        rows = _upsert(writes, active, account, now)
        _announce(rows, existing, locations, now)
    return changed, ignored


def _after(record: StockLevelRecord, stored: Stored) -> bool:
    # Not older (checked first): a time that moves is written.
    return record.modified_at is not None and record.modified_at != stored.modified_at


def _lock_locations(ids: set[int]) -> dict[int, bool]:
    """The locations' ``active``, share-locked until the commit."""
    with connection.cursor() as cursor:
        cursor.execute(LOCATIONS_SQL, [sorted(ids)])
        return dict(cursor.fetchall())


def _lock_existing(keys: dict[Key, StockLevelRecord]) -> dict[Key, Stored]:
    skus, locs = zip(*keys, strict=True)
    with connection.cursor() as cursor:
        cursor.execute(LOCK_SQL, [list(skus), list(locs)])
        return {(row[1], row[2]): Stored(row[0], *row[3:]) for row in cursor.fetchall()}


def _upsert(
    writes: list[Write],
    active: dict[int, bool],
    account: ProviderAccount | None,
    now: datetime,
) -> list[tuple]:
    # One JSON text, not six arrays: psycopg quoted each array element in
    # Python (1,000 timestamps alone took ~15 ms a page); the modification
    # times as ISO text (psycopg sent each one as text too).
    rows = [
        {
            "sku": sku,
            "loc": loc,
            "on_hand": record.on_hand,
            "modified": _iso(record.modified_at),
            "unseen": unseen,
            # A level created here: its location's flag (an existing one keeps its).
            "active": active[loc],
        }
        for (sku, loc), record, unseen in writes
    ]
    params = {
        "rows": json.dumps(rows, ensure_ascii=False),
        "threshold": settings.INVENTORY_LOW_STOCK_THRESHOLD,
        "source": account.pk if account is not None else None,
        "now": now,
        "horizon": now + FAR_FUTURE,
    }
    with connection.cursor() as cursor:
        cursor.execute(UPSERT_SQL, params)
        return cursor.fetchall()


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _announce(
    rows: list[tuple],
    existing: dict[Key, Stored],
    locations: dict[str, Location],
    now: datetime,
) -> None:
    """Emit the events of the updated levels whose state moved. A row the
    statement inserted, or one created by another transaction since the lock
    (no previous state seen), is not announced."""
    by_id = {location.pk: location for location in locations.values()}
    moved = []
    for pk, sku, loc, on_hand, reserved, state, threshold, created in rows:
        stored = existing.get((sku, loc))
        if created or stored is None or stored.state == state:
            continue
        level = StockLevel(
            pk=pk,
            sku=sku,
            location=by_id[loc],
            on_hand=on_hand,
            reserved=reserved,
            state=state,
            low_threshold=threshold,
        )
        moved.append((level, stored.state))
    if not moved:
        return
    # The levels are locked: expired holds read now match the stored states.
    expired = expired_holds([level.pk for level, _ in moved], now)
    levels_announce(moved, expired=expired)
