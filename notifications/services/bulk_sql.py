"""The bulk send's hottest write as one PostgreSQL statement: a message the
provider took moves ``sending -> sent`` and gets its events, in one round
trip that does not wait for the WAL flush.

Through the ORM the same write is a transaction of four statements (SET
LOCAL, UPDATE, INSERT, COMMIT), about 2 ms of a worker's CPU per message,
a fifth of what a bulk message costs it (measured: docs/notifications.md,
*Bulk speed*). The statement is built once from the models' table and column
names; ``record_sent`` falls back to the ORM on other databases and inside
a caller's transaction.
"""

import json
from datetime import datetime
from functools import cache

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection

from integrations.client.call_rows import RELAXED_FROM
from integrations.db import execute_one
from notifications.models import EmailEvent, EmailMessage, EmailStatus


@cache
def _statement(events: int) -> str:
    message, event = EmailMessage._meta, EmailEvent._meta
    m = {f.name: f.column for f in message.concrete_fields}
    e = {f.name: f.column for f in event.concrete_fields}
    values = ", ".join(["(%s, %s::timestamptz, %s::jsonb)"] * events)
    # Data-modifying CTEs always run; the INSERT reads the UPDATE's RETURNING,
    # so events are only written when the message moved. Names come from the
    # models, values are parameters.
    return (
        f'WITH moved AS (UPDATE "{message.db_table}" SET '  # noqa: S608
        f'"{m["status"]}" = %s, "{m["account"]}" = %s, '
        f'"{m["provider_message_id"]}" = %s, "{m["last_error"]}" = \'\', '
        f"\"{m['error_code']}\" = '', "
        f'"{m["sent_at"]}" = %s, "{m["updated_at"]}" = %s '
        f'FROM {RELAXED_FROM} WHERE "{m["id"]}" = %s AND "{m["status"]}" = %s '
        f'RETURNING "{m["id"]}" AS id), '
        f'added AS (INSERT INTO "{event.db_table}" ("{e["message"]}", '
        f'"{e["type"]}", "{e["bounce_type"]}", "{e["occurred_at"]}", '
        f'"{e["details"]}", "{e["created_at"]}") '
        f"SELECT moved.id, v.type, '', v.at, v.details, v.at FROM moved, "
        f"(VALUES {values}) AS v(type, at, details) RETURNING 1) "
        "SELECT (SELECT count(*) FROM moved), (SELECT count(*) FROM added)"
    )


def sent_in_one_statement(
    message_pk: int,
    account_pk: int,
    provider_message_id: str,
    now: datetime,
    events: list[tuple[str, datetime, dict]],
) -> bool:
    """``sending -> sent`` with ``events`` (type, time, details); False when
    the message was not ``sending`` (nothing written)."""
    params: list = [
        EmailStatus.SENT,
        account_pk,
        provider_message_id,
        now,
        now,
        message_pk,
        EmailStatus.SENDING,
    ]
    for kind, at, details in events:
        params += [kind, at, json.dumps(details, cls=DjangoJSONEncoder)]
    # Prepared once per connection (integrations.db.execute_one).
    row = execute_one(_statement(len(events)), params)
    return bool(row and row[0])


def one_statement_available() -> bool:
    """PostgreSQL in autocommit: the statement is its own transaction."""
    return connection.vendor == "postgresql" and not connection.in_atomic_block
