from collections import defaultdict
from typing import Any

from django.db import migrations, models
from django.db.models import F


def count_confirms_not_yet_sent(apps: Any, schema_editor: Any) -> None:
    """Confirms still on their way to the ERP when this ships: their units
    count as unsent, so the next sync keeps them off on-hand."""
    forward = apps.get_model("inventory", "ReservationForward")
    line = apps.get_model("inventory", "ReservationLine")
    level = apps.get_model("inventory", "StockLevel")
    units: dict[int, int] = defaultdict(int)
    open_confirms = (
        forward.objects.filter(operation="confirm")
        .exclude(status__in=["done", "skipped"])
        .values_list("reservation_id", "account_id")
    )
    for reservation_id, account_id in open_confirms:
        for level_id, quantity in line.objects.filter(
            reservation_id=reservation_id, stock_level__source_id=account_id
        ).values_list("stock_level_id", "quantity"):
            units[level_id] += quantity
    for level_id in sorted(units):  # pk order, like every writer of levels
        level.objects.filter(pk=level_id).update(
            sold_unsent=F("sold_unsent") + units[level_id]
        )


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0004_syncrun_one_open_per_account"),
    ]

    # Constant defaults and nullable columns: no table rewrite or scan.
    operations = [
        migrations.AddField(
            model_name="stocklevel",
            name="erp_acked_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="stocklevel",
            name="sold_unseen",
            field=models.IntegerField(db_default=0, default=0),
        ),
        migrations.AddField(
            model_name="stocklevel",
            name="sold_unseen_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="stocklevel",
            name="sold_unsent",
            field=models.IntegerField(db_default=0, default=0),
        ),
        migrations.RunPython(count_confirms_not_yet_sent, migrations.RunPython.noop),
    ]
