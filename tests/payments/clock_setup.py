"""Set-up the payments tests of the database's clock share (imported): the
skip on SQLite, whose clock is this machine's (the fixture by its name
``server_database_only``, autouse where imported), and a migration test's
look at a table's file and its created_at default."""

import pytest
from django.db import connection

from integrations.testing.clocks import shared_by_machines


@pytest.fixture(autouse=True)
def server_database_only() -> None:
    if not shared_by_machines():
        pytest.skip("needs a server database: SQLite's clock is this machine's")


def table_file_and_default(table: str) -> tuple[object, object]:
    """PostgreSQL: ``table``'s file node and its created_at column's default;
    SQLite: the table's schema text twice (a copy would rewrite it)."""
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.execute("SELECT sql FROM sqlite_master WHERE name = %s", [table])
            (sql,) = cursor.fetchone()
            return sql, sql
        cursor.execute("SELECT relfilenode FROM pg_class WHERE relname = %s", [table])
        (node,) = cursor.fetchone()
        cursor.execute(
            "SELECT column_default FROM information_schema.columns "
            "WHERE table_name = %s AND column_name = 'created_at'",
            [table],
        )
        (default,) = cursor.fetchone()
        return node, default
