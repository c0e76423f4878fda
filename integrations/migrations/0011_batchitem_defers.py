"""How often a batch row was handed back to wait on its own (``defers``):
its next wait doubles. A column with a constant database default, which
PostgreSQL adds without rewriting rows; no index (claims read the job's
claim index). Its ALTER waits for its table lock at most
MIGRATION_LOCK_TIMEOUT_MS, and its ``>= 0``
check is validated after it, not under that lock (``AddCheckedFieldIfMissing``)."""

from django.db import migrations, models

from integrations.migration_ops import AddCheckedFieldIfMissing


class Migration(migrations.Migration):
    atomic = False  # AddCheckedFieldIfMissing makes its own short transaction

    dependencies = [
        ("integrations", "0010_batch_job_created_at_database_clock"),
    ]

    operations = [
        AddCheckedFieldIfMissing(
            model_name="batchitem",
            name="defers",
            field=models.PositiveIntegerField(db_default=0, default=0),
        ),
    ]
