from typing import Any

from django.db import migrations, models
from django.utils import timezone

OPEN = ["queued", "running"]


def end_extra_open_runs(apps: Any, schema_editor: Any) -> None:
    """Two open runs of one account (the race the index now stops) would
    fail its build: all but the newest of each account end failed."""
    sync_run = apps.get_model("inventory", "SyncRun")
    keep: dict[int, int] = {}
    extra = []
    for pk, account_id in (
        sync_run.objects.filter(status__in=OPEN)
        .order_by("-started_at", "-pk")
        .values_list("pk", "account_id")
    ):
        if account_id in keep:
            extra.append(pk)
        else:
            keep[account_id] = pk
    sync_run.objects.filter(pk__in=extra).update(
        status="failed", finished_at=timezone.now()
    )


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0005_webhook_subject"),
        ("inventory", "0003_reservation_forwards"),
    ]

    operations = [
        migrations.RunPython(end_extra_open_runs, migrations.RunPython.noop),
        # A small table (a row per run): a plain build takes milliseconds.
        migrations.AddConstraint(
            model_name="syncrun",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status__in", OPEN)),
                fields=("account",),
                name="syncrun_one_open_per_account",
            ),
        ),
    ]
