"""Webhook event times PostgreSQL stored but psycopg cannot read back (past
year 9999 in UTC, before year 1, infinity) cleared: a signed event stamped
9999-12-31T23:59:59-12:00 was stored, then every read of it failed (its
processing, the admin's list of events). ``iso_time`` now reads such a time as
none; this repairs what was stored before. One statement matching only the
broken rows; run again, it finds none. PostgreSQL only (SQLite stores text)."""

from django.db import migrations

# Outside what ``iso_time`` keeps: a day inside what a Python datetime holds,
# so that no local time zone overflows showing it (infinity is outside both).
CLEAR = (
    "UPDATE integrations_webhookevent SET occurred_at = NULL "
    "WHERE occurred_at > '9999-12-30 23:59:59.999999+00' "
    "OR occurred_at < '0001-01-02 00:00:00+00'"
)


def forwards(apps, schema_editor) -> None:
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(CLEAR)


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0006_idempotency_done_mark"),
    ]

    operations = [
        # Backwards: nothing to undo (the times could not be read anyway).
        migrations.RunPython(forwards, migrations.RunPython.noop, elidable=False),
    ]
