"""0011 (integrations_batchitem) and 0012 (notifications_bulkrecipient) add
the same ``defers`` column as 0013 does to EmailMessage, on tables that grow
as large: the same rule, their ``>= 0`` check goes on NOT VALID with the
column and is validated after, never under the table's ACCESS EXCLUSIVE lock.
Needs ``--migrations``."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.migration_state import defers_check_state, migrated_back

pytestmark = [pytest.mark.migrations, pytest.mark.django_db(transaction=True)]

CASES = [
    ("integrations", "0010_batch_job_created_at_database_clock", "0011",
     "integrations_batchitem"),
    ("notifications", "0011_webhook_tokens", "0012", "notifications_bulkrecipient"),
]  # fmt: skip


@pytest.mark.parametrize(("app", "before", "target", "table"), CASES)
def test_defers_check_is_not_scanned_under_the_tables_lock(
    request, app, before, target, table
):
    with migrated_back(request, app, before), CaptureQueriesContext(connection) as ran:
        call_command("migrate", app, target, verbosity=0)
    if connection.vendor != "postgresql":
        return
    adds = [q["sql"] for q in ran.captured_queries if "ADD COLUMN" in q["sql"]]
    assert adds, "the column was not added"
    assert all("CHECK" not in sql.upper() for sql in adds), adds
    assert any("NOT VALID" in q["sql"] for q in ran.captured_queries)
    assert defers_check_state(table) == (f"{table}_defers_check", True)
