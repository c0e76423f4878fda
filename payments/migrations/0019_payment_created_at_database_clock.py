# A card's charge is inserted with the database's time as created_at (the
# card's rule compares it with a decline's learnt time); the db_default makes
# the ORM read it back. On PostgreSQL the column default is set (no rewrite:
# only later inserts that leave the column out take it). SQLite would copy
# the whole table to change a default, and there this machine's clock is the
# database's: its schema is left as it is, only the model state changes.

import django.db.models.functions.datetime
import django.utils.timezone
from django.db import migrations, models

from integrations.migration_ops import column_default


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0018_payment_failure_learnt_at"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                column_default(
                    "payments_payment", "created_at", "STATEMENT_TIMESTAMP()"
                ),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="payment",
                    name="created_at",
                    field=models.DateTimeField(
                        db_default=django.db.models.functions.datetime.Now(),
                        db_index=True,
                        default=django.utils.timezone.now,
                    ),
                ),
            ],
        ),
    ]
