# A payment's note is inserted with the database's time as created_at, as the
# payment, its attempts and events are: the timeline orders them together.
# On PostgreSQL the column default is set (no rewrite: only later inserts
# that leave the column out take it; the ORM's send DEFAULT). SQLite's
# inserts carry the expression itself and would copy the whole table to
# change a default: its schema is left as it is, only the model state changes.

import django.db.models.functions.datetime
from django.db import migrations, models

from integrations.migration_ops import column_default


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0021_payment_card_retry_advice_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                column_default(
                    "payments_paymentnote", "created_at", "STATEMENT_TIMESTAMP()"
                ),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="paymentnote",
                    name="created_at",
                    field=models.DateTimeField(
                        db_default=django.db.models.functions.datetime.Now()
                    ),
                ),
            ],
        ),
    ]
