"""mail43's migrations adding ``defers`` to the batch row tables (the bulk
recipients', large): on PostgreSQL the column's 0 is a default kept in the
catalogue, so the table is not rewritten (same file before and after);
backwards it drops the column; run again it does nothing. Needs
``--migrations``."""

import pytest
from django.core.management import call_command
from django.db import connection

from tests.migration_state import migrated_back

pytestmark = [pytest.mark.migrations, pytest.mark.django_db(transaction=True)]

TABLES = {
    ("notifications", "0011_webhook_tokens"): "notifications_bulkrecipient",
    ("integrations", "0010_batch_job_created_at_database_clock"): (
        "integrations_batchitem"
    ),
}


def _node_and_default(table: str) -> tuple[object, object]:
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            return None, None
        cursor.execute("SELECT relfilenode FROM pg_class WHERE relname = %s", [table])
        (node,) = cursor.fetchone()
        cursor.execute(
            "SELECT column_default FROM information_schema.columns "
            "WHERE table_name = %s AND column_name = 'defers'",
            [table],
        )
        found = cursor.fetchone()
        return node, found[0] if found else None


@pytest.mark.parametrize(("app", "before"), list(TABLES))
def test_defers_is_added_without_rewriting_the_table(request, app, before):
    table = TABLES[(app, before)]
    with migrated_back(request, app, before):
        node_before, default_before = _node_and_default(table)
        assert default_before is None  # no column yet
    node_after, default_after = _node_and_default(table)
    if connection.vendor == "postgresql":
        assert node_after == node_before
        assert str(default_after) == "0"
    # A second run finds the column and leaves it.
    call_command("migrate", app, verbosity=0)
