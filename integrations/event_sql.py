"""An outbox event and its deliveries written in one statement on PostgreSQL
(data-modifying CTEs, sent with a commit group's other waiting writes), one
hand-built INSERT per row elsewhere.

Through the ORM an event cost its caller about 2k Python calls and two round
trips; every payment emits one. Values come from the models' own fields
(defaults included), so the rows are the ORM's
(``tests/integrations/events/test_event_sql.py``).
"""

from collections.abc import Callable, Sequence
from functools import cache

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Field

from integrations.group_sql import Write, defer, run_writes
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
def _clauses() -> tuple[tuple[str, str], ...]:
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
        (
            "e",
            f'INSERT INTO "{event.db_table}" ({e_cols}) '  # noqa: S608
            f'VALUES ({e_marks}) RETURNING "{event.pk.column}" AS id',
        ),
        (
            "d",
            f'INSERT INTO "{delivery.db_table}" ({d_cols}) '  # noqa: S608
            f"SELECT {{e}}.id, s.name, {d_marks} FROM {{e}}, "
            "unnest(%s::text[]) WITH ORDINALITY AS s(name, n) ORDER BY s.n "
            f'RETURNING "{delivery.pk.column}" AS id',
        ),
    )


_RESULTS = ("(SELECT id FROM {e})", "(SELECT array_agg(id ORDER BY id) FROM {d})")


def event_rows_insert(
    event: Event,
    subscribers: Sequence[str],
    then: Callable[[list[int]], None],
    *,
    later: bool = False,
    using: str = DEFAULT_DB_ALIAS,
) -> None:
    """Insert ``event`` and one pending delivery per subscriber in the
    caller's transaction: now, or (``later``, in a commit group) with the
    group's commit (``group_sql.defer``). Then the event's pk is set and ``then``
    gets the deliveries' pks (``on_commit`` works: inside the transaction, or
    once the group's block has ended, when it runs at once)."""
    conn = connections[using]

    def done(event_id: int, delivery_ids: list[int] | None) -> None:
        event.pk = event_id
        event._state.adding = False
        event._state.db = using
        then(list(delivery_ids or []))

    def apart() -> tuple[int, list[int]]:
        # No data-modifying CTEs (SQLite): one INSERT per row.
        row_insert(event, using=using)
        rows = [EventDelivery(event=event, subscriber=name) for name in subscribers]
        return event.pk, [row_insert(row, using=using).pk for row in rows]

    e_fields = [f for f in Event._meta.concrete_fields if not f.primary_key]
    params = field_values(e_fields, event, add=True, conn=conn)
    template = EventDelivery(subscriber="")
    params += field_values(_delivery_fields(), template, add=True, conn=conn)
    params.append(list(subscribers))
    write = Write(_clauses(), tuple(params), _RESULTS, on_result=done, apart=apart)
    if later:
        defer(write, using=using)
    else:
        run_writes([write], using=using)
