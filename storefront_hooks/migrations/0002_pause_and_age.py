from django.db import migrations, models


class Migration(migrations.Migration):
    # The columns only, in one transaction: an interrupted run leaves none of
    # them, so the next run adds them. The indexes are 0003's (CONCURRENTLY,
    # outside a transaction).

    dependencies = [
        ("integrations", "0005_webhook_subject"),
        ("storefront_hooks", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="webhookdelivery",
            name="restarted_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="webhookendpoint",
            name="paused_since",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]
