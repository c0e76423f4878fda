"""``StockLevel.location_active``: its location's ``active`` on the level, so
a reservation's conditional UPDATE checks it without locking the location.

Added as true with a database default: on PostgreSQL 11+ a constant default
is stored in the catalog, so the column is added without rewriting the table
(and rows the previous release inserts meanwhile get it). The copy from the
locations is 0011."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0009_syncrun_owed_pages"),
    ]

    operations = [
        migrations.AddField(
            model_name="stocklevel",
            name="location_active",
            field=models.BooleanField(db_default=True, default=True),
        ),
    ]
