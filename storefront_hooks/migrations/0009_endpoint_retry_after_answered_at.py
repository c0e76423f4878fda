"""When the answer that last set or ended an endpoint's Retry-After hold came
(``retry_after_answered_at``): a success answered after the 429 ends the hold,
an older answer settled later changes nothing. A nullable column without a
default: PostgreSQL adds it without rewriting rows, and its ALTER waits for
its table lock at most MIGRATION_LOCK_TIMEOUT_MS (``AddFieldIfMissing``)."""

from django.db import migrations, models

from integrations.migration_ops import AddFieldIfMissing


class Migration(migrations.Migration):
    atomic = False  # AddFieldIfMissing makes its own short transaction

    dependencies = [
        ("storefront_hooks", "0008_endpoint_retry_after_until"),
    ]

    operations = [
        AddFieldIfMissing(
            model_name="webhookendpoint",
            name="retry_after_answered_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]
