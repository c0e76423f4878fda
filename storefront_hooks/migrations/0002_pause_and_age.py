from typing import Any

import django.db.models.deletion
from django.db import migrations, models

from integrations.migration_indexes import index_swap

WAITING = models.Q(("status__in", ["pending", "failed"]))


def _drop_endpoint_index(apps: Any, schema_editor: Any) -> None:
    # The foreign key's own index; (endpoint, created_at) serves the key.
    model = apps.get_model("storefront_hooks", "webhookdelivery")
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, model._meta.db_table)
    names = [
        name
        for name, info in found.items()
        if info["index"] and info["columns"] == ["endpoint_id"]
    ]
    concurrently = " CONCURRENTLY" if connection.vendor == "postgresql" else ""
    for name in names:
        schema_editor.execute(
            f"DROP INDEX{concurrently} {schema_editor.quote_name(name)}"
        )


def _add_endpoint_index(apps: Any, schema_editor: Any) -> None:
    model = apps.get_model("storefront_hooks", "webhookdelivery")
    index = models.Index(fields=["endpoint"], name="webhookdelivery_endpoint")
    postgresql = schema_editor.connection.vendor == "postgresql"
    extra = {"concurrently": True} if postgresql else {}
    schema_editor.add_index(model, index, **extra)


class Migration(migrations.Migration):
    # Indexes are built and dropped CONCURRENTLY on PostgreSQL.
    atomic = False

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
        # The sweep reads only the waiting rows of endpoints it may send to.
        index_swap(
            "storefront_hooks",
            "webhookdelivery",
            add=models.Index(
                condition=WAITING,
                fields=["endpoint", "created_at"],
                name="webhookdelivery_waiting",
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
