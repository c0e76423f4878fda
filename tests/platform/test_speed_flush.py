"""The suite's flush (tests/pg.py: DELETE, not Django's TRUNCATE) leaves the
database as Django's does: every model table empty, then post_migrate's
content types and permissions written again."""

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection

from tests.factories import ApiKeyFactory, ProviderAccountFactory
from tests.pg import flush_as_after_a_test

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _rows() -> dict[str, int]:
    tables = connection.introspection.django_table_names(
        only_existing=True, include_views=False
    )
    with connection.cursor() as cursor:
        counts = {}
        for table in tables:
            name = connection.ops.quote_name(table)
            cursor.execute(f"SELECT count(*) FROM {name}")  # noqa: S608
            counts[table] = cursor.fetchone()[0]
    return counts


def test_a_flush_empties_every_table_and_writes_the_content_types_again():
    ProviderAccountFactory()
    ApiKeyFactory()
    assert sum(_rows().values()) > 0

    flush_as_after_a_test()

    kept = {ContentType._meta.db_table, Permission._meta.db_table}
    assert {t: n for t, n in _rows().items() if n and t not in kept} == {}
    assert ContentType.objects.filter(app_label="integrations").exists()
    assert Permission.objects.filter(codename="add_provideraccount").exists()


def test_the_flush_is_by_delete_and_other_flushes_are_djangos():
    tables = ["a", "b"]
    (ours,) = connection.ops.sql_flush(None, tables)  # one round trip
    statements = [s.split()[0] for s in ours.split(";") if s.strip()]
    assert statements == ["LOCK", "SET", "DELETE", "DELETE"]
    for option in ("reset_sequences", "allow_cascade"):
        (statement,) = connection.ops.sql_flush(_Plain(), tables, **{option: True})
        assert statement.startswith("TRUNCATE")


class _Plain:
    def __getattr__(self, name):
        return lambda text: text
