# State only (no SQL): scans dated to the same second list as the status
# follows them.

import django.db.models.functions.comparison
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("shipping", "0014_tracking_event_listed_as_followed"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="trackingevent",
            options={
                "ordering": [
                    django.db.models.functions.comparison.Least(
                        "occurred_at", "created_at"
                    ),
                    "occurred_at",
                    "created_at",
                    "-pk",
                ]
            },
        ),
    ]
