"""Each stock level's ``location_active`` copied from its location.

Batched by primary-key range, each batch its own short transaction (the
migration is not atomic) and starting at an id there is: on a big table no
statement holds many row locks or keeps a long transaction open, sparse ids
cost no empty batches, and a deploy killed midway finishes by running
``migrate`` again. Only rows that differ are written (at first, the
levels of inactive locations: the column starts true), so a run again is
harmless and repairs any drift, e.g. a location switched by the previous
release while it still served (``migrate inventory 0010`` then ``migrate``).
Each batch share-locks the locations first, like a sync page: a switch by
``location_active_set`` (locations, then levels) waits for it or is seen."""

from django.db import migrations, transaction
from django.db.models import Min

BATCH = 5_000

# Writes only the rows whose flag differs from their location's.
COPY_SQL = (
    "UPDATE inventory_stocklevel SET location_active = NOT location_active "
    "WHERE id >= %s AND id < %s AND location_active <> (SELECT l.active "
    "FROM inventory_location l WHERE l.id = inventory_stocklevel.location_id)"
)
SHARE_SQL = "SELECT id FROM inventory_location ORDER BY id FOR SHARE"


def forwards(apps, schema_editor) -> None:
    level = apps.get_model("inventory", "StockLevel")
    connection = schema_editor.connection
    ids = level.objects.using(connection.alias).order_by("pk")
    start = ids.aggregate(low=Min("pk"))["low"]
    while start is not None:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(SHARE_SQL)
            cursor.execute(COPY_SQL, [start, start + BATCH])
        # The next batch starts at the next id there is: sparse ids (a table
        # purged of old levels) walk no empty range a transaction each.
        start = ids.filter(pk__gte=start + BATCH).values_list("pk", flat=True).first()


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("inventory", "0010_stocklevel_location_active"),
    ]

    operations = [
        # Backwards: nothing to undo (0010's backwards drops the column).
        migrations.RunPython(forwards, migrations.RunPython.noop, elidable=False),
    ]
