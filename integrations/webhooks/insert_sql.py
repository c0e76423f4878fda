"""The SQL that stores webhook events (webhooks.services' store functions):
one row, or the many rows of one request, each ``ON CONFLICT DO NOTHING`` on
the event's dedupe key, built once per database."""

import json
from collections.abc import Callable
from functools import cache, partial
from typing import Any

from django.db import connections
from django.db.models import BinaryField, DateTimeField, JSONField

from integrations.db import execute_one
from integrations.models import WebhookEvent


class InsertStatement:
    """``INSERT ... ON CONFLICT (account, dedupe_key) DO NOTHING RETURNING
    id`` for WebhookEvent, built once per database, and the ``SELECT`` of the
    id a duplicate already has (not the ORM: its first query in a request
    costs a health-check round trip).

    On PostgreSQL both travel as one statement (the INSERT in a CTE), so a
    duplicate costs one round trip, not two. SQLite has no data-modifying
    CTEs: there a duplicate sends the SELECT after the INSERT.

    A conflict returns no row instead of raising, so a duplicate needs no
    savepoint inside a caller's transaction and no rollback outside one.
    Values are adapted the way the model's fields would adapt them, without
    the per-call cost of ``Model.save``.
    """

    def __init__(self, using: str) -> None:
        conn = connections[using]
        quote = conn.ops.quote_name
        meta = WebhookEvent._meta
        # Columns with a database default are left to it: received_at is the
        # database's clock, the one the sweep compares it with.
        self.fields = [
            f
            for f in meta.local_concrete_fields
            if not (f.primary_key or f.has_db_default())
        ]
        unique = next(
            c for c in meta.constraints if c.name == "webhookevent_unique_dedupe"
        )
        conflict = ", ".join(quote(meta.get_field(f).column) for f in unique.fields)
        columns = ", ".join(quote(f.column) for f in self.fields)
        marks = ", ".join(["%s"] * len(self.fields))
        # Identifiers from the model, quoted; every value is a parameter.
        table, pk = quote(meta.db_table), quote(meta.pk.column)
        # Shared with the many-row statement: what precedes and follows VALUES.
        self.head = f"INSERT INTO {table} ({columns})"
        self.on_conflict = f"ON CONFLICT ({conflict}) DO NOTHING"
        self.sql = f"{self.head} VALUES ({marks}) {self.on_conflict} RETURNING {pk}"
        account = quote(meta.get_field("account").column)
        dedupe_key = quote(meta.get_field("dedupe_key").column)
        self.existing_sql = (
            f"SELECT {pk} FROM {table} "  # noqa: S608
            f"WHERE {account} = %s AND {dedupe_key} = %s"
        )
        self.combined_sql = None
        if conn.vendor == "postgresql":
            # The SELECT reads the snapshot taken before the INSERT: it finds
            # a row committed before this statement began, never the one the
            # INSERT adds. A conflicting row committed while the INSERT waited
            # for it is in neither: no row, and the caller sends it again.
            self.combined_sql = (
                f"WITH inserted AS ({self.sql}) "  # noqa: S608
                f"SELECT {pk}, TRUE FROM inserted UNION ALL "
                f"SELECT {pk}, FALSE FROM {table} "
                f"WHERE {account} = %s AND {dedupe_key} = %s "
                "ORDER BY 2 DESC LIMIT 1"
            )
        self.adapters = [_adapter(conn, f) for f in self.fields]

    def store(
        self,
        params: list[Any],
        account_pk: int,
        dedupe_key: str,
        using: str,
        execute_one: Callable[..., Any] = execute_one,
    ) -> tuple[int, bool] | None:
        """``(id, created)``, or None when the row that conflicted could not
        be read (committed after this statement's snapshot, or pruned).
        ``execute_one``: the caller's (services sends through its own)."""
        if self.combined_sql is not None:
            # ON CONFLICT DO NOTHING and reads: safe to send twice.
            row = execute_one(
                self.combined_sql,
                [*params, account_pk, dedupe_key],
                using=using,
                resend=True,
            )
            return None if row is None else (row[0], row[1])
        row = execute_one(self.sql, params, using=using, resend=True)
        if row is not None:
            return row[0], True
        existing = execute_one(
            self.existing_sql, [account_pk, dedupe_key], using=using, resend=True
        )
        return None if existing is None else (existing[0], False)

    def params(self, **given: Any) -> list[Any]:
        out = []
        for field, adapt in zip(self.fields, self.adapters, strict=True):
            value = given[field.name] if field.name in given else field.get_default()
            out.append(value if value is None else adapt(value))
        return out


class InsertManyStatement:
    """``INSERT ... VALUES (...), (...) ON CONFLICT (account, dedupe_key) DO
    NOTHING RETURNING id, dedupe_key`` for the events of one request, as few
    statements as the database's parameter limit allows (one on PostgreSQL
    up to ``MAX_ROWS`` events), and the ``UPDATE`` that moves the request's
    body to another row. Both databases support the same SQL."""

    # Rows per statement at most, whatever the parameter limit.
    MAX_ROWS = 1000

    def __init__(self, using: str) -> None:
        single = insert_statement(using)
        conn = connections[using]
        quote = conn.ops.quote_name
        meta = WebhookEvent._meta
        self.fields = single.fields
        self._adapters = dict(
            zip((f.name for f in self.fields), single.adapters, strict=True)
        )
        self._position = {f.name: i for i, f in enumerate(self.fields)}
        self.params = single.params
        table, pk = quote(meta.db_table), quote(meta.pk.column)
        key = quote(meta.get_field("dedupe_key").column)
        self._row = f"({', '.join(['%s'] * len(self.fields))})"
        # Identifiers from the model, quoted; every value is a parameter.
        self._head = single.head
        self._tail = f" {single.on_conflict} RETURNING {pk}, {key}"
        body = quote(meta.get_field("raw_body").column)
        self.update_sql = f"UPDATE {table} SET {body} = %s WHERE {pk} = %s"  # noqa: S608
        limit = conn.features.max_query_params or 65535
        self.rows_per_statement = max(1, min(self.MAX_ROWS, limit // len(self.fields)))

    def store(
        self, shared: list[Any], rows: list[dict[str, Any]], using: str
    ) -> dict[str, int]:
        """The id of every row inserted, by dedupe key (conflicts: absent)."""
        ids: dict[str, int] = {}
        step = self.rows_per_statement
        with connections[using].cursor() as cursor:
            for start in range(0, len(rows), step):
                chunk = rows[start : start + step]
                values = ", ".join([self._row] * len(chunk))
                cursor.execute(
                    f"{self._head} VALUES {values}{self._tail}",
                    [value for row in chunk for value in self._values(shared, row)],
                )
                ids.update((key, pk) for pk, key in cursor.fetchall())
        return ids

    def _values(self, shared: list[Any], row: dict[str, Any]) -> list[Any]:
        values = list(shared)
        for name, value in row.items():
            adapt = self._adapters[name]
            values[self._position[name]] = value if value is None else adapt(value)
        return values

    def set_raw_body(self, event_id: int, body: bytes, using: str) -> None:
        adapt = self._adapters["raw_body"]
        with connections[using].cursor() as cursor:
            cursor.execute(self.update_sql, [adapt(body), event_id])


def _adapter(conn: Any, field: Any) -> Callable[[Any], Any]:
    """What ``field.get_db_prep_save`` does to a value, for the field types
    WebhookEvent has."""
    if isinstance(field, JSONField):
        # JSON text: PostgreSQL types the untyped parameter from the jsonb
        # column (no per-value Jsonb wrapper); SQLite stores text anyway.
        return partial(json.dumps, cls=field.encoder)
    if isinstance(field, DateTimeField):
        return conn.ops.adapt_datetimefield_value
    if isinstance(field, BinaryField):
        return conn.Database.Binary
    return _same


def _same(value: Any) -> Any:
    return value


@cache
def insert_statement(using: str) -> InsertStatement:
    return InsertStatement(using)


@cache
def insert_many_statement(using: str) -> InsertManyStatement:
    return InsertManyStatement(using)
