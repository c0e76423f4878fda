"""How often a bulk recipient's row was handed back to wait on its own
(``defers``): its next wait doubles. A column with a constant database
default, which PostgreSQL adds without rewriting the (large) table; no
index. Its ALTER waits for its table lock at most MIGRATION_LOCK_TIMEOUT_MS,
and its ``>= 0`` check is validated after it, not under that lock
(``AddCheckedFieldIfMissing``)."""

from django.db import migrations, models

from integrations.migration_ops import AddCheckedFieldIfMissing


class Migration(migrations.Migration):
    atomic = False  # AddCheckedFieldIfMissing makes its own short transaction

    dependencies = [
        ("notifications", "0011_webhook_tokens"),
    ]

    operations = [
        AddCheckedFieldIfMissing(
            model_name="bulkrecipient",
            name="defers",
            field=models.PositiveIntegerField(db_default=0, default=0),
        ),
    ]
