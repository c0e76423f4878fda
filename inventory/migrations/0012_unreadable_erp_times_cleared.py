"""ERP modification times PostgreSQL stored but psycopg cannot read back
(past year 9999 in UTC, before year 1, infinity) cleared: one such level made
the storefront's stock list fail for every SKU, one such run's ``high_water``
every read of the account's runs. ``level_problem`` now refuses them; this
repairs what was stored before. One statement per table, matching only the
broken rows; run again, it finds none. PostgreSQL only (SQLite stores text)."""

from django.db import migrations

# Outside what ``level_problem`` keeps: a day inside what a Python datetime
# holds, so that no local time zone overflows showing it (infinity is outside).
UNREADABLE = (
    "{column} > '9999-12-30 23:59:59.999999+00' OR {column} < '0001-01-02 00:00:00+00'"
)
CLEAR = [
    ("inventory_stocklevel", "erp_modified_at"),
    ("inventory_syncrun", "high_water"),
]


def forwards(apps, schema_editor) -> None:
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for table, column in CLEAR:
            where = UNREADABLE.format(column=column)
            cursor.execute(f"UPDATE {table} SET {column} = NULL WHERE {where}")  # noqa: S608


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0011_stocklevel_location_active_copy"),
    ]

    operations = [
        # Backwards: nothing to undo (the times could not be read anyway).
        migrations.RunPython(forwards, migrations.RunPython.noop, elidable=False),
    ]
