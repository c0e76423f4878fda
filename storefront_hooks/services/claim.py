"""Claim a delivery and load it with its endpoint and account in one round
trip (PostgreSQL, outside a transaction): the claim's UPDATE as a
data-modifying CTE, joined to the endpoint and its account, committed
without waiting for the disk (why that is safe: ``rows._relaxed_delivered``).
Elsewhere (SQLite, inside a caller's transaction) a claim, then a SELECT.

On a loaded 2-core machine each statement is a millisecond or more, a
fifth of a 5 ms receiver's answer; the delivery bench is what this is for.
"""

import functools
import time
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Model

from integrations.client.call_rows import RELAXED_FROM
from integrations.models import DeliveryStatus, ProviderAccount
from storefront_hooks.models import WebhookDelivery, WebhookEndpoint
from storefront_hooks.services.rows import due_early, relaxed_allowed, rows

_MODELS: tuple[type[Model], ...] = (WebhookDelivery, WebhookEndpoint, ProviderAccount)


@functools.cache
def _sql(vendor_alias: str) -> str:
    quote = connection.ops.quote_name
    tables = [quote(m._meta.db_table) for m in _MODELS]
    delivery, endpoint, account = tables
    d_meta = WebhookDelivery._meta

    def col(model: type[Model], name: str) -> str:
        return quote(model._meta.get_field(name).column)

    selected = ", ".join(
        f"{alias}.{quote(f.column)}"
        for alias, model in zip(("c", "e", "a"), _MODELS, strict=True)
        for f in model._meta.concrete_fields
    )
    attempts, status = col(WebhookDelivery, "attempts"), col(WebhookDelivery, "status")
    due = col(WebhookDelivery, "next_attempt_at")
    fk = col(WebhookDelivery, "endpoint")
    # Identifiers from the models, quoted; values are parameters.
    return (
        f"WITH c AS (UPDATE {delivery} SET {status} = %s, "  # noqa: S608
        # The database's clock unless the caller gives the time (services.clock).
        f"{col(WebhookDelivery, 'claimed_at')} = "
        "COALESCE(%s::timestamptz, statement_timestamp()), "
        f"{attempts} = {delivery}.{attempts} + 1, "
        # Claimed: no longer waiting for a slot (services.handoff).
        f"{col(WebhookDelivery, 'waits_for_slot')} = FALSE "
        f"FROM {RELAXED_FROM}, {endpoint} "
        f"WHERE {delivery}.{quote(d_meta.pk.column)} = %s "
        f"AND {delivery}.{status} IN (%s, %s) "
        # Not before its next attempt (rows.due_by).
        f"AND ({delivery}.{due} IS NULL OR {delivery}.{due} <= "
        "COALESCE(%s::timestamptz, statement_timestamp()) + %s) "
        f"AND {endpoint}.id = {delivery}.{fk} "
        f"AND {endpoint}.{col(WebhookEndpoint, 'enabled')} "
        f"RETURNING {delivery}.*) "
        f"SELECT {selected} FROM c JOIN {endpoint} e ON e.id = c.{fk} "
        f"JOIN {account} a ON a.id = e.{col(WebhookEndpoint, 'account')}"
    )


def _instance(model: type[Model], values: list[Any]) -> Any:
    """A model instance from raw column values, converted as the ORM would."""
    fields = model._meta.concrete_fields
    converted = []
    for field, value in zip(fields, values, strict=True):
        col = field.get_col(model._meta.db_table)
        converters = connection.ops.get_db_converters(col)
        converters += col.get_db_converters(connection)
        for converter in converters:
            value = converter(value, col, connection)
        converted.append(value)
    return model.from_db(connection.alias, [f.attname for f in fields], converted)


def claim_started() -> float:
    """``time.monotonic()`` as the claim's statement can start: the
    connection opened and checked (CONN_HEALTH_CHECKS) first, so a slow
    connect is not read as time after the claim (an answer's time is the
    claim's database time plus what was measured from here)."""
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    return time.monotonic()


def delivery_claim(
    delivery_id: int, now: datetime | None = None
) -> WebhookDelivery | None:
    """The delivery with its endpoint and account, claimed for this worker;
    None if it is taken, done, or its endpoint is disabled. Its
    ``claimed_at`` is the database's time of the claim (``services.clock``),
    or ``now`` if given."""
    if not relaxed_allowed():
        if not rows.claim(delivery_id, now):
            return None
        return WebhookDelivery.objects.select_related("endpoint__account").get(
            pk=delivery_id
        )
    params = [DeliveryStatus.DELIVERING, now, delivery_id]
    params += [DeliveryStatus.PENDING, DeliveryStatus.FAILED]
    params += [now, due_early()]
    with connection.cursor() as cursor:
        cursor.execute(_sql(connection.alias), params)
        found = cursor.fetchone()
    if found is None:
        return None
    parts, start = [], 0
    for model in _MODELS:
        width = len(model._meta.concrete_fields)
        parts.append(_instance(model, list(found[start : start + width])))
        start += width
    delivery, endpoint, account = parts
    endpoint.account = account
    delivery.endpoint = endpoint
    return delivery
