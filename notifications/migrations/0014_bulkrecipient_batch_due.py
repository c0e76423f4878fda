from django.db import migrations, models

from integrations.migration_indexes import index_swap


class Migration(migrations.Migration):
    # Built CONCURRENTLY on PostgreSQL, outside a transaction: the table is
    # written by every worker of a running job.
    atomic = False

    dependencies = [
        ("notifications", "0013_emailmessage_defers"),
    ]

    operations = [
        # The batch sweep asks of each job resting until its wake-up whether
        # a row of it is due (integrations.batch.rows.due_rows): read from
        # this index, not by reading every waiting row of the job.
        index_swap(
            "notifications",
            "bulkrecipient",
            add=models.Index(
                fields=["job", "status", "next_attempt_at"],
                name="bulkrecipient_batch_due",
            ),
        ),
    ]
