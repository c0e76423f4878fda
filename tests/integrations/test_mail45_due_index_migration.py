"""0013 (integrations_batchitem) and 0014 (notifications_bulkrecipient) add
the index the batch sweep reads a resting job's due rows from (job, status,
next_attempt_at): built CONCURRENTLY on PostgreSQL (the tables are written by
every worker of a running job), valid once built, dropped going back.
Without it the sweep read every waiting row of each resting job (100k rows:
24 ms a job; with it 0.03 ms). Needs ``--migrations``."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.migration_state import migrated_back

pytestmark = [pytest.mark.migrations, pytest.mark.django_db(transaction=True)]

CASES = [
    ("integrations", "0012_webhook_unusable_received_by",
     "0013_batchitem_batch_due", "integrations_batchitem", "batchitem_batch_due"),
    ("notifications", "0013_emailmessage_defers",
     "0014_bulkrecipient_batch_due", "notifications_bulkrecipient",
     "bulkrecipient_batch_due"),
]  # fmt: skip


def _index(table: str, name: str) -> dict | None:
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, table)
    return found.get(name)


def _valid(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c "
            "ON c.oid = i.indexrelid WHERE c.relname = %s",
            [name],
        )
        return cursor.fetchone()[0]


@pytest.mark.parametrize(("app", "before", "target", "table", "name"), CASES)
def test_the_due_index_is_built_concurrently_and_dropped_going_back(
    request, app, before, target, table, name
):
    with migrated_back(request, app, before):
        assert _index(table, name) is None
        with CaptureQueriesContext(connection) as ran:
            call_command("migrate", app, target, verbosity=0)
        index = _index(table, name)
        assert index is not None
        assert index["columns"] == ["job_id", "status", "next_attempt_at"]
        if connection.vendor == "postgresql":
            built = [q["sql"] for q in ran.captured_queries if name in q["sql"]]
            assert any("CREATE INDEX CONCURRENTLY" in sql for sql in built), built
            assert _valid(name) is True
        call_command("migrate", app, before, verbosity=0)
        assert _index(table, name) is None
