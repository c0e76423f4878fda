"""How often in a row a single send waited for a paused account
(``defers``): its next wait doubles, as a bulk row's does. A column with a
constant database default, which PostgreSQL adds without rewriting the
(large) table; no index. Its ALTER waits for its table lock at most
MIGRATION_LOCK_TIMEOUT_MS, and its ``>= 0`` check is validated after it, not
under that lock (``AddCheckedFieldIfMissing``)."""

from django.db import migrations, models

from integrations.migration_ops import AddCheckedFieldIfMissing


class Migration(migrations.Migration):
    atomic = False  # AddCheckedFieldIfMissing makes its own short transaction

    dependencies = [
        ("notifications", "0012_bulkrecipient_defers"),
    ]

    operations = [
        AddCheckedFieldIfMissing(
            model_name="emailmessage",
            name="defers",
            field=models.PositiveIntegerField(db_default=0, default=0),
        ),
    ]
