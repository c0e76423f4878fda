"""The sweep's batch: up to ``size`` due rows, shared among the endpoints it
may send to in turns (each one's oldest, then each one's next, ...; older
first within a turn, then by id), so one endpoint's backlog cannot keep
another's retries out of the batch.

One query whatever the number of endpoints, and none of its parameters per
endpoint (PostgreSQL takes at most 65,535): the endpoints are a subquery.
On PostgreSQL each endpoint's due rows are read through the waiting rows'
index, at most ``size`` of them (a LATERAL join), so a long backlog is not
read whole every minute. SQLite has no LATERAL: there every due row is
numbered in its endpoint's queue (``ROW_NUMBER``), fine for the embedded,
small set-up it serves."""

from collections.abc import Collection
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import BooleanField, F, Func, Q, QuerySet, Subquery, Window
from django.db.models.expressions import RawSQL
from django.db.models.functions import RowNumber

from storefront_hooks.models import WebhookEndpoint
from storefront_hooks.services.rows import rows

_OLDEST_FIRST = [F("created_at").asc(), F("pk").asc()]


def due_batch(now: datetime, paused: Collection[int], size: int) -> list[int]:
    """The ids of up to ``size`` due rows of the enabled endpoints not in
    ``paused`` (staff forced their breaker open: a few), in turns."""
    sending = (
        WebhookEndpoint.objects.filter(enabled=True)
        .exclude(pk__in=list(paused))
        .order_by()
        .values("id")
    )
    if connection.vendor == "postgresql":
        return _per_endpoint(now, sending, size)
    turn = Window(RowNumber(), partition_by=[F("endpoint_id")], order_by=_OLDEST_FIRST)
    due = rows.due(now, sending).annotate(turn=turn).filter(turn__lte=size)
    ordered = due.order_by("turn", "created_at", "pk")
    return list(ordered.values_list("pk", flat=True)[:size])


def _per_endpoint(now: datetime, sending: QuerySet, size: int) -> list[int]:
    """PostgreSQL: each sending endpoint's first ``size`` due rows (an index
    range each), numbered in its queue; the batch is their first ``size``
    by turn, age, id."""
    quote = connection.ops.quote_name
    outer = quote("e")
    # The outer endpoint's id: quoted identifiers only, no value.
    own = RawSQL(f"{outer}.{quote('id')}", ())  # noqa: S611
    first = (
        rows.due(now, None)
        .filter(endpoint_id=own)
        .annotate(turn=Window(RowNumber(), order_by=_OLDEST_FIRST))
        .values_list("id", "created_at", "turn")[:size]
    )
    endpoints_sql, endpoints_params = sending.query.sql_with_params()
    first_sql, first_params = first.query.sql_with_params()
    # Both parts compiled by the ORM (values are parameters).
    sql = (
        f"SELECT l.id FROM ({endpoints_sql}) {outer} "  # noqa: S608
        f"CROSS JOIN LATERAL ({first_sql}) l "
        "ORDER BY l.turn, l.created_at, l.id LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*endpoints_params, *first_params, size])
        return [pk for (pk,) in cursor.fetchall()]


class _AnyOfArray(Func):
    """``column = ANY(ARRAY(subquery))``: PostgreSQL runs the subquery once
    and reads the column's index for each value, as for a list of ids."""

    output_field = BooleanField()

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        column, subquery = self.get_source_expressions()
        column_sql, column_params = compiler.compile(column)
        subquery_sql, subquery_params = compiler.compile(subquery)
        return (
            f"{column_sql} = ANY(ARRAY{subquery_sql})",
            (*column_params, *subquery_params),
        )


def of_enabled_endpoints() -> Any:
    """A filter on the deliveries: their endpoint is enabled. No parameter
    per endpoint, and on the table's own column (no join), so a row's
    status is checked again by an UPDATE that finds it just claimed; on
    PostgreSQL read through the index per endpoint, like a list of ids."""
    enabled = WebhookEndpoint.objects.filter(enabled=True).order_by().values("id")
    if connection.vendor == "postgresql":
        return _AnyOfArray(F("endpoint_id"), Subquery(enabled))
    return Q(endpoint_id__in=enabled)
