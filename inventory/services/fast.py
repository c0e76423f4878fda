"""The reservation fast path: one conditional update per stock level.

``UPDATE ... SET reserved = reserved + n WHERE id = %s AND on_hand - reserved
>= n RETURNING ...`` checks and writes in one statement: on PostgreSQL a
racing update waits for the row and re-checks the condition on the row's
newest version, so two can never both take the last units. Expired holds are
not counted as free here (that would need a read of other tables, which a
re-check does not repeat); when they matter, the caller's locked path
decides. Levels are updated in pk order, like ``lock_rows``, so multi-line
reservations racing in opposite order cannot deadlock.
"""

from datetime import datetime

from django.db import connection

from inventory.models import StockLevel
from inventory.services.levels import expired_holds, levels_refresh, stock_state


class StaleLevel(Exception):
    """A level no longer has the units the plan counted on."""


# inventory_stocklevel is StockLevel's table (Django's default name).
TAKE_SQL = (
    "UPDATE inventory_stocklevel SET reserved = reserved + %s "
    "WHERE id = %s AND on_hand - reserved >= %s "
    "RETURNING on_hand, reserved, state, low_threshold"
)


def fast_take(plan: list[tuple[StockLevel, int]], now: datetime) -> None:
    """Take ``plan``'s units (inside the caller's transaction) or raise
    StaleLevel, which rolls the transaction back. Announces state changes."""
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
