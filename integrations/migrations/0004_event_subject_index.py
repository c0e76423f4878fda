from django.db import migrations, models

from integrations.migration_indexes import index_swap


class Migration(migrations.Migration):
    # The index is built CONCURRENTLY on PostgreSQL, outside a transaction.
    atomic = False

    dependencies = [
        ("integrations", "0003_batch_jobs"),
    ]

    operations = [
        # An object's events, newest first, on its admin page.
        index_swap(
            "integrations",
            "event",
            add=models.Index(fields=["subject", "created_at"], name="event_subject_created"),
        ),
    ]
