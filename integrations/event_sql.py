"""An outbox event and its deliveries written in one statement on PostgreSQL
(a data-modifying CTE), one hand-built INSERT per row elsewhere.

Through the ORM an event cost its caller about 2k Python calls and two round
trips; every payment emits one. Values come from the models' own fields
(defaults included), so the rows are the ORM's
(``tests/integrations/events/test_event_sql.py``).
"""

from collections.abc import Sequence
from functools import cache

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Field

from integrations.db import execute_one
from integrations.models import Event, EventDelivery
from integrations.row_sql import field_values, row_insert

# The delivery columns the statement fills from the row itself.
_OWN = ("event", "subscriber")


@cache
def _delivery_fields() -> tuple[Field, ...]:
    meta = EventDelivery._meta
    return tuple(
        f for f in meta.concrete_fields if not f.primary_key and f.name not in _OWN
    )


@cache
def _statement() -> str:
    event, delivery = Event._meta, EventDelivery._meta
    e_fields = [f for f in event.concrete_fields if not f.primary_key]
    e_cols = ", ".join(f'"{f.column}"' for f in e_fields)
    e_marks = ", ".join(["%s"] * len(e_fields))
    rest = _delivery_fields()
    event_col = delivery.get_field("event").column
    sub_col = delivery.get_field("subscriber").column
    d_names = [event_col, sub_col, *(f.column for f in rest)]
    d_cols = ", ".join(f'"{column}"' for column in d_names)
    d_marks = ", ".join(["%s"] * len(rest))
    # Names from the models' metadata; values travel as parameters.
    return (
        f'WITH e AS (INSERT INTO "{event.db_table}" ({e_cols}) '  # noqa: S608
        f'VALUES ({e_marks}) RETURNING "{event.pk.column}" AS id), '
        f'd AS (INSERT INTO "{delivery.db_table}" ({d_cols}) '
        f"SELECT e.id, s.name, {d_marks} FROM e, "
        "unnest(%s::text[]) WITH ORDINALITY AS s(name, n) ORDER BY s.n "
        f'RETURNING "{delivery.pk.column}" AS id) '
        "SELECT (SELECT id FROM e), array_agg(id ORDER BY id) FROM d"
    )


def event_rows_insert(
    event: Event, subscribers: Sequence[str], *, using: str = DEFAULT_DB_ALIAS
) -> list[int]:
    """Insert ``event`` (its pk is set) and one pending delivery per
    subscriber, in the caller's transaction; return the deliveries' pks."""
    conn = connections[using]
    template = EventDelivery(subscriber="")
    if conn.vendor != "postgresql":
        row_insert(event, using=using)
        return [
            row_insert(EventDelivery(event=event, subscriber=name), using=using).pk
            for name in subscribers
        ]
    e_fields = [f for f in Event._meta.concrete_fields if not f.primary_key]
    params = field_values(e_fields, event, add=True, conn=conn)
    params += field_values(_delivery_fields(), template, add=True, conn=conn)
    params.append(list(subscribers))
    row = execute_one(_statement(), params, using=using)
    assert row is not None
    event.pk = row[0]
    event._state.adding = False
    event._state.db = using
    return list(row[1] or [])
