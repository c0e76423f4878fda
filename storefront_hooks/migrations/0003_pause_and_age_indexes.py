from typing import Any

import django.db.models.deletion
from django.db import migrations, models

from integrations.migration_indexes import index_swap

WAITING = models.Q(("status__in", ["pending", "failed"]))
WAITING_INDEX = "webhookdelivery_waiting"
# The endpoint key's index as going back to 0002 makes it again.
ENDPOINT_INDEX = "webhookdelivery_endpoint"


def _drop_if_exists(schema_editor: Any, name: str) -> None:
    # CONCURRENTLY waits for older transactions instead of blocking writes.
    concurrently = (
        " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""
    )
    quoted = schema_editor.quote_name(name)
    schema_editor.execute(f"DROP INDEX{concurrently} IF EXISTS {quoted}")


def _drop_leftover_waiting_index(apps: Any, schema_editor: Any) -> None:
    # A run stopped during or after the build (an INVALID index on PostgreSQL
    # when killed or timed out while waiting for older transactions) left
    # this migration unrecorded: the index is built again from scratch.
    _drop_if_exists(schema_editor, WAITING_INDEX)


def _drop_endpoint_index(apps: Any, schema_editor: Any) -> None:
    # The foreign key's own index; (endpoint, created_at) serves the key.
    # Found by its column, so a run after an interrupted one finds none.
    model = apps.get_model("storefront_hooks", "webhookdelivery")
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, model._meta.db_table)
    for name, info in found.items():
        if info["index"] and info["columns"] == ["endpoint_id"]:
            _drop_if_exists(schema_editor, name)


def _add_endpoint_index(apps: Any, schema_editor: Any) -> None:
    model = apps.get_model("storefront_hooks", "webhookdelivery")
    index = models.Index(fields=["endpoint"], name=ENDPOINT_INDEX)
    _drop_if_exists(schema_editor, ENDPOINT_INDEX)  # an interrupted build's
    postgresql = schema_editor.connection.vendor == "postgresql"
    extra = {"concurrently": True} if postgresql else {}
    schema_editor.add_index(model, index, **extra)


class Migration(migrations.Migration):
    # Indexes are built and dropped CONCURRENTLY on PostgreSQL (outside a
    # transaction), each step safe to run again after an interrupted run.
    atomic = False

    dependencies = [
        ("storefront_hooks", "0002_pause_and_age"),
    ]

    operations = [
        migrations.RunPython(_drop_leftover_waiting_index, migrations.RunPython.noop),
        # The sweep reads only the waiting rows of endpoints it may send to.
        index_swap(
            "storefront_hooks",
            "webhookdelivery",
            add=models.Index(
                condition=WAITING,
                fields=["endpoint", "created_at"],
                name=WAITING_INDEX,
            ),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="webhookdelivery",
                    name="endpoint",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="deliveries",
                        to="storefront_hooks.webhookendpoint",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunPython(_drop_endpoint_index, _add_endpoint_index),
            ],
        ),
    ]
