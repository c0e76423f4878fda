"""An endpoint's hold (``retry_after_until``): a receiver's Retry-After
holds every delivery to it. A nullable column without a default: PostgreSQL
adds it without rewriting rows, and its ALTER waits for its table lock at
most MIGRATION_LOCK_TIMEOUT_MS (``AddFieldIfMissing``)."""

from django.db import migrations, models

from integrations.migration_ops import AddFieldIfMissing


class Migration(migrations.Migration):
    atomic = False  # AddFieldIfMissing makes its own short transaction

    dependencies = [
        ("storefront_hooks", "0007_endpoint_event_types_once"),
    ]

    operations = [
        AddFieldIfMissing(
            model_name="webhookendpoint",
            name="retry_after_until",
            field=models.DateTimeField(
                blank=True,
                editable=False,
                null=True,
                verbose_name="held for its Retry-After until",
            ),
        ),
    ]
