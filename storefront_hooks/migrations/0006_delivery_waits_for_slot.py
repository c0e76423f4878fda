"""A delivery waiting for a free in-flight slot is marked by a field of its
own, no longer by its last error beginning "Waiting for a free slot: ".
Rows marked so are converted (flag set, marker cut off the text): only
waiting rows can be (a claim, a settle or a discard rewrites the text), so
the UPDATE reads them, not the table. The hand-on's partial index is built
CONCURRENTLY afterwards (it holds only the flagged rows).

The column keeps its default in the database: the code not yet deployed
inserts rows without it; its ALTER waits for its table lock at most
MIGRATION_LOCK_TIMEOUT_MS (``AddFieldIfMissing``), not queueing every query
of the table. Each step is done again only if not done, so a run
stopped halfway (the index build cancelled, a killed deploy) is finished by
migrating again."""

from typing import Any

from django.db import migrations, models, transaction
from django.db.models.functions import Concat, Length, Substr

from integrations.migration_indexes import index_swap
from integrations.migration_ops import AddFieldIfMissing, has_column

WAITING_STATUSES = ("status__in", ["pending", "failed"])
WAITING = models.Q(WAITING_STATUSES)
# The old marker, as the code before this migration wrote it.
MARKER = "Waiting for a free slot: "


def _rows(apps: Any) -> Any:
    return apps.get_model("storefront_hooks", "webhookdelivery").objects


def _flag_marked(apps: Any, schema_editor: Any) -> None:
    # Row locks on the marked rows only; no lock on the table beyond writes'.
    with transaction.atomic(using=schema_editor.connection.alias):
        _rows(apps).filter(WAITING, last_error__startswith=MARKER).update(
            waits_for_slot=True,
            last_error=Substr("last_error", Length(models.Value(MARKER)) + 1),
        )


def _mark_flagged(apps: Any, schema_editor: Any) -> None:
    # A run back killed after the column went: nothing flagged is left.
    model = apps.get_model("storefront_hooks", "webhookdelivery")
    if not has_column(schema_editor, model, "waits_for_slot"):
        return
    with transaction.atomic(using=schema_editor.connection.alias):
        _rows(apps).filter(WAITING, waits_for_slot=True).update(
            waits_for_slot=False,
            last_error=Concat(models.Value(MARKER), "last_error"),
        )


class Migration(migrations.Migration):
    # The index is built CONCURRENTLY on PostgreSQL (outside a transaction).
    atomic = False

    dependencies = [
        ("storefront_hooks", "0005_delivery_created_at_database_clock"),
    ]

    operations = [
        # A constant default: PostgreSQL adds the column without rewriting
        # rows; kept in the database for the inserts of the code before this.
        AddFieldIfMissing(
            model_name="webhookdelivery",
            name="waits_for_slot",
            field=models.BooleanField(default=False, db_default=False, editable=False),
        ),
        migrations.RunPython(_flag_marked, _mark_flagged),
        index_swap(
            "storefront_hooks",
            "webhookdelivery",
            add=models.Index(
                condition=models.Q(WAITING_STATUSES, ("waits_for_slot", True)),
                fields=["endpoint", "created_at"],
                name="webhookdelivery_slot_waiting",
            ),
        ),
    ]
