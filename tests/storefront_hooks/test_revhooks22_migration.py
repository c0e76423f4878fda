"""Review of migration 0006 on a live table: the code still running while it
is applied (a rolling deploy) can still make deliveries, and a run stopped
halfway (the concurrent index build cancelled, a deploy killed) is finished
by migrating again, and the column is added only if its table lock comes
quickly. Historical models only. Needs ``--migrations``."""

import threading
import time

import psycopg
import pytest
from django.core.management import call_command
from django.db import OperationalError, connection

from integrations import migration_indexes
from tests.migration_state import historical_apps, migrated_back

pytestmark = [pytest.mark.migrations, pytest.mark.django_db(transaction=True)]

BEFORE = "0005_delivery_created_at_database_clock"
AFTER = "0006_delivery_waits_for_slot"
MARKER = "Waiting for a free slot: "
REFUSAL = "concurrency_limited: 2 calls in flight"
INDEX = "webhookdelivery_slot_waiting"
# How long the other transaction holds its lock on the table.
READER_SECONDS = 20


def _deliveries(migration: str):
    return historical_apps("storefront_hooks", migration).get_model(
        "storefront_hooks", "WebhookDelivery"
    )


def _index_valid() -> bool | None:
    table = "storefront_hooks_webhookdelivery"
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, table)
        if INDEX not in found:
            return None
        if connection.vendor != "postgresql":
            return True
        cursor.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c "
            "ON c.oid = i.indexrelid WHERE c.relname = %s",
            [INDEX],
        )
        return cursor.fetchone()[0]


def test_the_code_before_0006_still_makes_deliveries_after_it(request, make_endpoint):
    endpoint = make_endpoint()[0]
    with migrated_back(request, "storefront_hooks", BEFORE):
        call_command("migrate", "storefront_hooks", AFTER, verbosity=0)
        # The workers not yet deployed insert rows without the new column.
        old = _deliveries(BEFORE).objects.create(
            endpoint_id=endpoint.pk, event_type="payment.captured", body="{}"
        )

        row = _deliveries(AFTER).objects.get(pk=old.pk)
        assert row.waits_for_slot is False


def test_0006_stopped_halfway_is_finished_by_migrating_again(
    request, make_endpoint, monkeypatch
):
    endpoint = make_endpoint()[0]
    with migrated_back(request, "storefront_hooks", BEFORE):
        marked = _deliveries(BEFORE).objects.create(
            endpoint_id=endpoint.pk,
            event_type="payment.captured",
            body="{}",
            last_error=f"{MARKER}{REFUSAL}",
        )

        def cancelled(*args, **kwargs):
            raise OperationalError("canceling statement due to user request")

        # The concurrent index build cancelled (a timeout, a killed deploy).
        with monkeypatch.context() as patched:
            patched.setattr(migration_indexes, "_swap", cancelled)
            with pytest.raises(OperationalError):
                call_command("migrate", "storefront_hooks", AFTER, verbosity=0)

        call_command("migrate", "storefront_hooks", AFTER, verbosity=0)

        row = _deliveries(AFTER).objects.get(pk=marked.pk)
        assert (row.waits_for_slot, row.last_error) == (True, REFUSAL)
        assert _index_valid() is True


def test_0006_gives_up_its_table_lock_rather_than_queue_every_query_behind_it(
    request,
):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's lock queue")
    table = "storefront_hooks_webhookdelivery"
    with migrated_back(request, "storefront_hooks", BEFORE):
        db = connection.settings_dict
        # A long transaction that read the table (an export, a report).
        reader = psycopg.connect(
            dbname=db["NAME"],
            user=db["USER"],
            password=db["PASSWORD"],
            host=db["HOST"],
            port=db["PORT"],
        )
        reader.execute(f"SELECT 1 FROM {table} LIMIT 1")  # noqa: S608
        ends = threading.Timer(READER_SECONDS, reader.rollback)
        ends.start()
        started = time.monotonic()
        try:
            # Queued behind it, the ALTER would stop every read and write of
            # the table until it ends: the migration fails fast instead.
            with pytest.raises(OperationalError, match="lock timeout"):
                call_command("migrate", "storefront_hooks", AFTER, verbosity=0)
            assert time.monotonic() - started < READER_SECONDS
        finally:
            ends.cancel()
            reader.rollback()
            reader.close()

        call_command("migrate", "storefront_hooks", AFTER, verbosity=0)
        assert _index_valid() is True
