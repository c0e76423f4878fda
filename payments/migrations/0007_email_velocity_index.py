from django.db import migrations, models
from django.db.models.functions import Upper

OLD = models.Index(
    fields=["customer_email", "created_at"], name="payments_pa_custome_7f01df_idx"
)
NEW = models.Index(
    Upper("customer_email"), "created_at", name="payment_email_upper_created"
)


def _swap(schema_editor, model, add: models.Index, drop: models.Index) -> None:
    # On PostgreSQL built and dropped CONCURRENTLY: a plain build in the
    # migration's transaction would lock every read and write of payments.
    extra = (
        {"concurrently": True}
        if schema_editor.connection.vendor == "postgresql"
        else {}
    )
    schema_editor.add_index(model, add, **extra)
    schema_editor.remove_index(model, drop, **extra)


def forwards(apps, schema_editor):
    _swap(schema_editor, apps.get_model("payments", "Payment"), NEW, OLD)


def backwards(apps, schema_editor):
    _swap(schema_editor, apps.get_model("payments", "Payment"), OLD, NEW)


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("payments", "0006_refund_sending_until"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(
                    model_name="payment", name="payments_pa_custome_7f01df_idx"
                ),
                migrations.AddIndex(model_name="payment", index=NEW),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
