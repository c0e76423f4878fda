from django.db import migrations, models
from django.db.models import Q

from integrations.migration_indexes import index_swap
from integrations.migration_ops import AddFieldIfMissing


class Migration(migrations.Migration):
    # The index is built CONCURRENTLY on PostgreSQL, outside a transaction;
    # a run killed after the column is finished by migrating again.
    atomic = False

    dependencies = [
        ("integrations", "0004_event_subject_index"),
    ]

    operations = [
        # A constant default: PostgreSQL adds the column without a rewrite.
        AddFieldIfMissing(
            model_name="webhookevent",
            name="subject",
            field=models.CharField(blank=True, db_default="", default="", max_length=255),
        ),
        index_swap(
            "integrations",
            "webhookevent",
            add=models.Index(
                fields=["subject", "received_at"],
                name="webhook_subject_received",
                condition=~Q(subject=""),
            ),
        ),
    ]
