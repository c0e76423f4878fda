"""The flush every transactional test ends in reads Django's tables once per
schema version (tests/pg.py ``django_tables``), not at every flush, and reads
them again once a test changed the schema, however it did."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.pg import flush_as_after_a_test

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# Django's introspection of the existing tables (table_names()).
TABLE_LIST = "pg_table_is_visible"


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the flush by DELETE is PostgreSQL's")


def _flush() -> list[str]:
    """The flush after a test; its statements."""
    with CaptureQueriesContext(connection) as queries:
        flush_as_after_a_test()
    return [query["sql"] for query in queries.captured_queries]


def test_a_second_flush_does_not_read_the_table_list_again():
    _flush()

    statements = _flush()

    assert not [sql for sql in statements if TABLE_LIST in sql]
    assert any('DELETE FROM "auth_group"' in sql for sql in statements)


def test_a_table_renamed_since_the_last_flush_is_seen_by_the_next():
    _flush()
    table = Group._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER TABLE "{table}" RENAME TO "suite42_gone"')
    try:
        # A kept list would delete from a table no longer there: an error.
        statements = _flush()
        assert not [sql for sql in statements if f'"{table}"' in sql]
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'ALTER TABLE "suite42_gone" RENAME TO "{table}"')
    Group.objects.create(name="written after the rename back")

    _flush()

    assert not Group.objects.exists()
