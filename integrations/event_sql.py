"""An outbox event and its deliveries written in one statement on PostgreSQL
(data-modifying CTEs, sent with a commit group's other waiting writes), one
hand-built INSERT per row elsewhere.

Through the ORM an event cost its caller about 2k Python calls and two round
trips; every payment emits one. Values come from the models' own fields
(defaults included), so the rows are the ORM's
(``tests/integrations/events/test_event_sql.py``).
"""

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cache

from django.db import DEFAULT_DB_ALIAS
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model
from django.db.models.expressions import DatabaseDefault

from integrations.clock import database_now
from integrations.commits import connection_for
from integrations.group_sql import Write, defer, run_writes
from integrations.models import Event, EventDelivery
from integrations.row_sql import field_values, row_insert

# The delivery columns the statement fills from the row itself.
_OWN = ("event", "subscriber")


def _written(model: type[Model]) -> list[Field]:
    # created_at is the database's default (its clock, integrations.clock).
    return [
        f
        for f in model._meta.concrete_fields
        if not (f.primary_key or f.has_db_default())
    ]


@cache
def _delivery_fields() -> tuple[Field, ...]:
    return tuple(f for f in _written(EventDelivery) if f.name not in _OWN)


@cache
def _clauses() -> tuple[tuple[str, str], ...]:
    event, delivery = Event._meta, EventDelivery._meta
    e_fields = _written(Event)
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
            f'VALUES ({e_marks}) RETURNING "{event.pk.column}" AS id, '
            f'"{event.get_field("created_at").column}" AS created_at',
        ),
        (
            "d",
            f'INSERT INTO "{delivery.db_table}" ({d_cols}) '  # noqa: S608
            f"SELECT {{e}}.id, s.name, {d_marks} FROM {{e}}, "
            "unnest(%s::text[]) WITH ORDINALITY AS s(name, n) ORDER BY s.n "
            f'RETURNING "{delivery.pk.column}" AS id',
        ),
    )


# A new delivery's values of ``_delivery_fields``, per database vendor: all
# constant defaults, so worked out once, not from a model built per event.
_defaults: dict[str, tuple] = {}


def _delivery_defaults(conn: BaseDatabaseWrapper) -> tuple:
    found = _defaults.get(conn.vendor)
    if found is None:
        fields = _delivery_fields()
        template = EventDelivery(subscriber="")
        found = tuple(field_values(fields, template, add=True, conn=conn))
        if all(_constant(field) for field in fields):
            _defaults[conn.vendor] = found
    return found


def _constant(field: Field) -> bool:
    """A new row's value of ``field`` is the same every time."""
    stamped = getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
    return not stamped and not (field.has_default() and callable(field.default))


_RESULTS = (
    "(SELECT id FROM {e})",
    "(SELECT created_at FROM {e})",
    "(SELECT array_agg(id ORDER BY id) FROM {d})",
)


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
    conn = connection_for(using)

    def done(
        event_id: int, created_at: datetime, delivery_ids: list[int] | None
    ) -> None:
        event.pk = event_id
        event.created_at = created_at
        event._state.adding = False
        event._state.db = using
        then(list(delivery_ids or []))

    def apart() -> tuple[int, datetime, list[int]]:
        # No data-modifying CTEs (SQLite): one INSERT per row, stamped by
        # this machine's clock, which is SQLite's.
        if isinstance(event.created_at, DatabaseDefault):
            event.created_at = database_now()
        row_insert(event, using=using)
        rows = [
            EventDelivery(event=event, subscriber=name, created_at=event.created_at)
            for name in subscribers
        ]
        return event.pk, event.created_at, [row_insert(r, using=using).pk for r in rows]

    e_fields = _written(Event)
    params = field_values(e_fields, event, add=True, conn=conn)
    params += _delivery_defaults(conn)
    params.append(list(subscribers))
    write = Write(_clauses(), tuple(params), _RESULTS, on_result=done, apart=apart)
    if later:
        defer(write, using=using)
    else:
        run_writes([write], using=using)
