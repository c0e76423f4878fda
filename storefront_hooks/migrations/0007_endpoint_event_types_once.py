"""Endpoints stored before the API refused a repeated event type keep their
repeats: each pattern is kept once, where it first appears. In batches of
``BATCH`` endpoints by primary key, each in a transaction of its own, so a
big table is never locked or read whole; a row changed meanwhile (an edit
through the API) is left as that edit wrote it. Not undone: the repeats
meant nothing (a delivery is made once per endpoint)."""

from typing import Any

from django.db import migrations, transaction

BATCH = 1000


def _once(patterns: Any) -> Any:
    if not isinstance(patterns, list):
        return patterns
    kept: list[Any] = []
    for pattern in patterns:
        if pattern not in kept:  # a list: a pattern stored may not hash
            kept.append(pattern)
    return kept


def _repeats_removed(apps: Any, schema_editor: Any) -> None:
    endpoints = apps.get_model("storefront_hooks", "webhookendpoint").objects
    alias = schema_editor.connection.alias
    last = 0
    while True:
        batch = list(
            endpoints.using(alias)
            .filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", "event_types")[:BATCH]
        )
        if not batch:
            return
        last = batch[-1][0]
        with transaction.atomic(using=alias):
            for pk, patterns in batch:
                kept = _once(patterns)
                if kept != patterns:
                    # Only if unchanged since read: an edit meanwhile wins.
                    endpoints.using(alias).filter(pk=pk, event_types=patterns).update(
                        event_types=kept
                    )


class Migration(migrations.Migration):
    # One transaction per batch, not one for the table.
    atomic = False

    dependencies = [
        ("storefront_hooks", "0006_delivery_waits_for_slot"),
    ]

    operations = [
        migrations.RunPython(_repeats_removed, migrations.RunPython.noop),
    ]
