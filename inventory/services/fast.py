"""The reservation fast path: one conditional update per stock level.

``UPDATE ... SET reserved = reserved + n WHERE id = %s AND on_hand - reserved
>= n RETURNING ...`` checks and writes in one statement: on PostgreSQL a
racing update waits for the row and re-checks the condition on the row's
newest version, so two can never both take the last units. Expired holds are
not counted as free here (that would need a read of other tables, which a
re-check does not repeat); when they matter, the caller's locked path
decides. Levels are updated in pk order, like ``lock_rows``, so multi-line
reservations racing in opposite order cannot deadlock. The condition also
requires the level's ``location_active`` (its location's flag, written by
``location_active_set`` under the level's lock): a location switched off since
the plain read sells nothing, and a take waiting for the switch re-checks the
flag on the row it then updates, so no location row is locked.
"""

from datetime import datetime, timedelta

from django.db import connection

from integrations.public_ids import new_public_id
from inventory.models import Reservation, ReservationStatus, StockLevel
from inventory.services.levels import (
    expired_holds,
    levels_refresh,
    stock_state,
)


class StaleLevel(Exception):
    """A level no longer has the units the plan counted on."""


# inventory_stocklevel is StockLevel's table (Django's default name).
TAKE_SQL = (
    "UPDATE inventory_stocklevel SET reserved = reserved + %s "
    "WHERE id = %s AND location_active AND on_hand - reserved >= %s "
    "RETURNING on_hand, reserved, state, low_threshold"
)


# One level, state unchanged by the take (the common case): the take, the
# reservation and its line in one statement. Run in autocommit it commits at
# once, so the row lock is held for no client round trip at all; no row means
# "no units, or the state would move" and the caller takes the longer path.
# Levels first, then the reservation rows, like every other writer.
ONE_SQL = (
    # location_active: a Disable committed since the plain read is seen, one
    # under way holds the row and the re-check after the wait sees it.
    "WITH took AS (UPDATE inventory_stocklevel SET reserved = reserved + %(n)s "
    "WHERE id = %(level)s AND location_active "
    "AND on_hand - reserved >= %(n)s AND state = "
    "CASE WHEN on_hand - reserved - %(n)s = 0 THEN 'out_of_stock' "
    "WHEN on_hand - reserved - %(n)s <= low_threshold THEN 'low' "
    "ELSE 'in_stock' END "
    "RETURNING id, sku, location_id), "
    # Stamped by the database's clock in this statement (the caller's time
    # if it gave one): no round trip to read it first.
    "clock AS (SELECT COALESCE(%(now)s::timestamptz, statement_timestamp()) AS t), "
    "made AS (INSERT INTO inventory_reservation (public_id, order_id, status, "
    "expires_at, created_at) SELECT %(public_id)s, %(order_id)s, 'active', "
    "clock.t + %(ttl)s::interval, clock.t FROM took, clock "
    "RETURNING id, created_at, expires_at), "
    "line AS (INSERT INTO inventory_reservationline (reservation_id, "
    "stock_level_id, sku, location_id, quantity) "
    "SELECT made.id, took.id, took.sku, took.location_id, %(n)s FROM made, took), "
    # The hold's forwards to the ERP accounts that keep holds, in the same
    # statement: a crash can lose neither without the other.
    # Their created_at is the column's default: the database's clock, the
    # one their sweep measures by.
    "sent AS (INSERT INTO inventory_reservationforward (reservation_id, "
    "account_id, operation, status, attempts, last_error, external_reference) "
    "SELECT made.id, a.id, 'reserve', 'pending', 0, '', '' "
    "FROM made, unnest(%(accounts)s::bigint[]) AS a(id) RETURNING id) "
    "SELECT made.id, ARRAY(SELECT id FROM sent ORDER BY id), made.created_at, "
    "made.expires_at FROM made"
)


def fast_reserve_one(
    *,
    order_id: str,
    ttl: timedelta,
    now: datetime | None,
    level: StockLevel,
    quantity: int,
    forward_to: list[int],
) -> tuple[Reservation, list[int]] | None:
    """Reserve ``quantity`` of one level for ``ttl`` in one statement
    (PostgreSQL), made at ``now`` or the statement's time, with a reserve
    forward to each account of ``forward_to``; returns the reservation and
    the forwards' ids, or None when the level lacks the units, its state
    would change or its location no longer sells."""
    public_id = new_public_id("res_")
    params = {
        "n": quantity,
        "level": level.pk,
        "public_id": public_id,
        "order_id": order_id,
        "ttl": ttl,
        "now": now,
        "accounts": forward_to,
    }
    with connection.cursor() as cursor:
        cursor.execute(ONE_SQL, params)
        row = cursor.fetchone()
    if row is None:
        return None
    reservation = Reservation(
        pk=row[0],
        public_id=public_id,
        order_id=order_id,
        status=ReservationStatus.ACTIVE,
        created_at=row[2],
        expires_at=row[3],
    )
    reservation._state.adding, reservation._state.db = False, connection.alias
    return reservation, list(row[1])


def fast_take(plan: list[tuple[StockLevel, int]], now: datetime) -> None:
    """Take ``plan``'s units (inside the caller's transaction) or raise
    StaleLevel, which rolls the transaction back (also when a location of
    the plan was switched off since the plain read). Announces state
    changes."""
    moved = []
    with connection.cursor() as cursor:
        for level, quantity in sorted(plan, key=lambda item: item[0].pk):
            cursor.execute(TAKE_SQL, [quantity, level.pk, quantity])
            row = cursor.fetchone()
            if row is None:
                raise StaleLevel(level.pk)
            on_hand, reserved, state, threshold = row
            naive = stock_state(
                on_hand=on_hand, reserved=reserved, low_threshold=threshold
            )
            level.on_hand, level.reserved, level.state = on_hand, reserved, state
            if naive != state:
                moved.append(level)
    if moved:
        # Rare (a state changes): the rows are locked now, so expired holds
        # read here are consistent with them.
        levels_refresh(moved, expired=expired_holds([x.pk for x in moved], now))
