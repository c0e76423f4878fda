"""Unusable webhook rows stored before they named the kind and provider of
the account that received them (``payload`` without ``received_by``) get
their account's kind and provider of today. Replay reads such a row again
only while its account is still of that kind and provider
(``webhooks.recovery``): a switch made from now on is caught, where before
the row was read by whatever the account had become.

Batched by primary key, each batch its own short transaction that locks only
its own unusable rows (a replay of one of them waits for the batch, or the
batch for the replay, which then keeps what the replay wrote). A deploy
killed midway finishes by running ``migrate`` again: rows already filled are
skipped. A row whose account is gone is left as it is (the intake never
stored one: the account is protected; such a row cannot be replayed).
Nothing to undo backwards: the key is what today's intake writes."""

from typing import Any

from django.db import migrations, transaction

BATCH = 1_000
# Frozen copies of integrations.webhooks' names: migrations outlive code.
UNUSABLE_EVENT_TYPE = "(unusable body)"
RECEIVED_BY = "received_by"


def fill_received_by(apps: Any, schema_editor: Any) -> int:
    """Fill the rows; how many were filled."""
    using = schema_editor.connection.alias
    accounts = apps.get_model("integrations", "ProviderAccount").objects.using(using)
    events = apps.get_model("integrations", "WebhookEvent").objects.using(using)
    # Configured accounts: a few rows, read once.
    kinds = {
        pk: {"kind": kind, "provider": provider}
        for pk, kind, provider in accounts.values_list("pk", "kind", "provider")
    }
    filled, last = 0, 0
    while True:
        with transaction.atomic(using=using):
            rows = list(
                events.select_for_update()
                .filter(event_type=UNUSABLE_EVENT_TYPE, pk__gt=last)
                .order_by("pk")
                .values_list("pk", "account_id", "payload")[:BATCH]
            )
            for pk, account_id, payload in rows:
                if not isinstance(payload, dict) or RECEIVED_BY in payload:
                    continue
                if account_id not in kinds:
                    continue
                payload = {**payload, RECEIVED_BY: kinds[account_id]}
                events.filter(pk=pk).update(payload=payload)
                filled += 1
        if len(rows) < BATCH:
            return filled
        last = rows[-1][0]


def forwards(apps: Any, schema_editor: Any) -> None:
    fill_received_by(apps, schema_editor)


class Migration(migrations.Migration):
    atomic = False  # a transaction per batch, not one over the whole table

    dependencies = [
        ("integrations", "0011_batchitem_defers"),
    ]

    operations = [
        migrations.RunPython(forwards, migrations.RunPython.noop, elidable=True),
    ]
