"""One model row INSERTed on a hot path without the ORM's compiler.

``Model.save()`` compiles its INSERT anew on every call (about a thousand
Python calls for a wide row such as a bulk email's message). ``insert_row``
builds the statement once per model and sends it with ``execute_one``
(prepared once per connection on PostgreSQL); the values come from the
fields themselves (``pre_save`` and ``get_db_prep_save``), as the ORM's own.
"""

from functools import lru_cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model

from integrations.db import execute_one, savepoint_if_nested


def insert_row(obj: Model, *, using: str = DEFAULT_DB_ALIAS) -> Any:
    """INSERT ``obj`` (an auto primary key left to the database) and set its
    pk, which is returned. Raises Django's IntegrityError on a conflict;
    inside a transaction the statement runs in a savepoint, so the caller's
    transaction survives it."""
    model = type(obj)
    conn = connections[using]
    sql, fields = _statement(model, conn.vendor)
    values = [
        field.get_db_prep_save(field.pre_save(obj, True), conn) for field in fields
    ]
    with savepoint_if_nested(using):
        row = execute_one(sql, values, using=using)
    if row is None:  # pragma: no cover - RETURNING always gives the row
        raise RuntimeError("INSERT ... RETURNING returned no row")
    obj.pk = row[0]
    obj._state.adding = False
    obj._state.db = using
    return obj.pk


@lru_cache(maxsize=32)
def _statement(model: type[Model], vendor: str) -> tuple[str, tuple[Any, ...]]:
    meta = model._meta
    auto = meta.auto_field
    fields = tuple(f for f in meta.concrete_fields if f is not auto)
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) "  # noqa: S608
        f"VALUES ({marks}) RETURNING {quote(meta.pk.column)}"
    )
    return sql, fields
