"""0013 adds ``defers`` to EmailMessage, a large and busy table. A
PositiveIntegerField's column carries a CHECK (``defers >= 0``): added inline
with the column, PostgreSQL checks every row of the table while holding its
ACCESS EXCLUSIVE lock (no rewrite, but a full scan: ~1.5 s per 2M narrow
rows, every query on the table queued meanwhile). The check goes on NOT
VALID with the column and is validated after, under a lock reads and writes
pass. Needs ``--migrations`` (PostgreSQL: the check's SQL; elsewhere the
column)."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.migration_state import defers_check_state, migrated_back

pytestmark = [pytest.mark.migrations, pytest.mark.django_db(transaction=True)]

TABLE = "notifications_emailmessage"


def _relfilenode() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relfilenode FROM pg_class WHERE relname = %s", [TABLE])
        return cursor.fetchone()[0]


def test_defers_is_added_without_checking_the_table_under_its_lock(request):
    with migrated_back(request, "notifications", "0012_bulkrecipient_defers"):
        if connection.vendor == "postgresql":
            node = _relfilenode()
        with CaptureQueriesContext(connection) as ran:
            call_command("migrate", "notifications", "0013", verbosity=0)
    if connection.vendor != "postgresql":
        return
    adds = [q["sql"] for q in ran.captured_queries if "ADD COLUMN" in q["sql"]]
    assert adds, "the column was not added"
    # The statement holding ACCESS EXCLUSIVE checks no row.
    assert all("CHECK" not in sql.upper() for sql in adds), adds
    assert any("NOT VALID" in q["sql"] for q in ran.captured_queries)
    # The check stands, validated, and nothing was rewritten.
    assert defers_check_state(TABLE) == (f"{TABLE}_defers_check", True)
    assert _relfilenode() == node
    # Run again: finds the column and the check, leaves them.
    call_command("migrate", "notifications", verbosity=0)
    assert defers_check_state(TABLE) == (f"{TABLE}_defers_check", True)
