"""Writing the ``ProviderCall`` row of an operation: the durable row with the
idempotency key before the first attempt, and the finished row in one
relaxed statement (``synchronous_commit`` off), usually behind the call
(``integrations.call_log``). Why relaxed is safe: docs/transport.md."""

import functools
import logging
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, connections, router

from integrations import call_log
from integrations.client.session import CallContext
from integrations.commits import connection_for
from integrations.models.calls import CallOutcome, ProviderCall

if TYPE_CHECKING:
    from integrations.models import ProviderAccount

# The package's logger: log routing and alerts key on "integrations.client".
logger = logging.getLogger(__package__)

# A FROM item that sets ``synchronous_commit = off`` for the transaction of
# the statement it is part of (``set_config(..., is_local => true)`` is SET
# LOCAL as a function). In autocommit that transaction is the statement itself.
RELAXED_FROM = "(SELECT set_config('synchronous_commit', 'off', true)) AS relaxed"

# What a finished operation writes onto a pre-written row.
FINISH_FIELDS = (
    "outcome",
    "http_status",
    "attempts",
    "duration_ms",
    "error_code",
    "finished_at",
)


def open_row(account: "ProviderAccount", ctx: CallContext) -> None:
    """Write the row before the first request leaves, so the key is on
    record even if this process dies mid-call. Outside any transaction of
    ours: inside a caller's atomic block it commits with the caller."""
    if ctx.call_id is not None:
        return
    ctx.call_id = ProviderCall.objects.create(
        account=account,
        operation=ctx.operation,
        outcome=CallOutcome.IN_PROGRESS,
        correlation_id=ctx.correlation_id,
        idempotency_key=ctx.idempotency_key,
        started_at=ctx.started_at,
    ).pk


def write_finished(
    account: "ProviderAccount", ctx: CallContext, values: dict[str, Any]
) -> None:
    """Write the finished operation's ``values`` (``FINISH_FIELDS``)."""
    try:
        using = router.db_for_write(ProviderCall)
        if not write_relaxed(using, account.pk, ctx, values):
            _store_result(account, ctx, values, using)
    except DatabaseError:
        # The provider call itself is done: losing its log line is better
        # than hiding a charge that happened behind a database error.
        logger.exception(
            "provider call log write failed",
            extra={"account": account.slug, "operation": ctx.operation},
        )


def _store_result(
    account: "ProviderAccount", ctx: CallContext, values: dict[str, Any], using: str
) -> None:
    if ctx.call_id is not None:
        ProviderCall.objects.using(using).filter(pk=ctx.call_id).update(**values)
        return
    # Nothing pre-written (a GET, or nothing was sent): one INSERT,
    # without save()'s machinery (no signals, no RETURNING).
    row = ProviderCall(
        account=account,
        operation=ctx.operation,
        correlation_id=ctx.correlation_id,
        idempotency_key=ctx.idempotency_key,
        started_at=ctx.started_at,
        **values,
    )
    ProviderCall._base_manager._insert([row], fields=insert_fields(), using=using)


def write_relaxed(
    using: str, account_pk: int, ctx: CallContext, values: dict[str, Any]
) -> bool:
    """Write the finished call's row in one statement that commits without
    waiting for the disk, by default behind the call (``call_log``); False
    (nothing written) where that cannot be done: not PostgreSQL, or inside a
    caller's transaction (whose commit would be relaxed too)."""
    conn = connection_for(using)
    if conn.vendor != "postgresql" or conn.in_atomic_block:
        return False
    # A thread that never connected (a fan-out worker) is in autocommit unless
    # the settings say otherwise: asking the connection would open one.
    if conn.connection is None and not conn.settings_dict["AUTOCOMMIT"]:
        return False
    if conn.connection is not None and not conn.get_autocommit():
        return False
    # The values are ints, strs, None and aware datetimes, which the driver
    # takes as they are (what get_db_prep_save would hand it, minus its cost).
    if ctx.call_id is None:
        row = {
            "account_id": account_pk,
            "operation": ctx.operation,
            "correlation_id": ctx.correlation_id,
            "idempotency_key": ctx.idempotency_key,
            "started_at": ctx.started_at,
            **values,
        }
        names, sql = relaxed_sql(using, "insert")
        params = [row[name] for name in names]
        copy = relaxed_sql(using, "copy")[1]
    else:
        names, sql = relaxed_sql(using, "update")
        params = [values[name] for name in names]
        params.append(ctx.call_id)
        copy = None
    if call_log.writer.inline():
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
    else:
        # Written behind the call; new rows by COPY, in the same column order.
        call_log.writer.add(call_log.Statement(using, sql, params, copy))
    return True


@functools.cache
def relaxed_sql(using: str, kind: str) -> tuple[list[str], str]:
    """The field attnames (in parameter order) and SQL of a relaxed INSERT or
    UPDATE of ``ProviderCall`` (``kind``), or the COPY that adds the INSERT's
    rows in bulk; the UPDATE's last parameter is the pk."""
    quote = connections[using].ops.quote_name
    meta = ProviderCall._meta
    table = quote(meta.db_table)
    if kind in ("insert", "copy"):
        fields = insert_fields()
        columns = ", ".join(quote(f.column) for f in fields)
        if kind == "copy":
            return [f.attname for f in fields], f"COPY {table} ({columns}) FROM STDIN"
        marks = ", ".join(["%s"] * len(fields))
        # Identifiers from the model, quoted; values are parameters.
        sql = f"INSERT INTO {table} ({columns}) SELECT {marks} FROM {RELAXED_FROM}"  # noqa: S608
        return [f.attname for f in fields], sql
    fields = [meta.get_field(name) for name in FINISH_FIELDS]
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    pk = quote(meta.pk.column)
    sql = (
        f"UPDATE {table} SET {assignments} FROM {RELAXED_FROM} "  # noqa: S608
        f"WHERE {table}.{pk} = %s"
    )
    return [f.attname for f in fields], sql


@functools.cache
def insert_fields() -> list[Any]:
    return [f for f in ProviderCall._meta.local_concrete_fields if not f.primary_key]
