"""The flush every transactional test ends in (tests/pg.py, tests/conftest.py
``_flush_by_delete``): each table as the database setup left it, whatever
the test wrote, in a few statements, not one per table and ~450 reads of
content types and permissions when none of the setup's rows changed."""

import pytest
from django.apps import apps
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integrations.webhooks import accounts
from tests.factories import ProviderAccountFactory
from tests.pg import flush_as_after_a_test

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _setup_rows() -> tuple[set, set]:
    types = set(ContentType.objects.values_list("id", "app_label", "model"))
    perms = set(Permission.objects.values_list("content_type_id", "codename"))
    return types, perms


def _rows_outside_the_setup() -> dict[str, int]:
    """Rows in every table but the content types' and permissions', which
    ``_setup_rows`` compares."""
    counts = {
        model._meta.db_table: model._base_manager.count()
        for model in apps.get_models()
        if model not in (ContentType, Permission)
        and model._meta.managed
        and not model._meta.proxy
    }
    return {table: count for table, count in counts.items() if count}


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the flush by DELETE is PostgreSQL's")


def test_a_flush_leaves_no_row_a_test_wrote_and_puts_back_a_setup_row_it_deleted():
    before = _setup_rows()
    ProviderAccountFactory()
    ProviderAccountFactory(slug="second")
    some_type = ContentType.objects.order_by("id").first()
    Permission.objects.create(codename="extra", name="x", content_type=some_type)
    Permission.objects.filter(codename="view_provideraccount").delete()
    assert _rows_outside_the_setup()

    flush_as_after_a_test()

    assert _rows_outside_the_setup() == {}
    types, perms = _setup_rows()
    assert types == before[0]
    assert perms == before[1]  # the deleted one written again


def test_a_flush_after_no_setup_change_is_a_few_statements_and_still_clears_caches():
    ProviderAccountFactory()
    accounts._cache["left"] = (0.0, None)  # a receiver of post_migrate clears it
    ContentType.objects.get_for_model(Permission)  # cached in the manager
    before = _setup_rows()

    with CaptureQueriesContext(connection) as queries:
        flush_as_after_a_test()

    assert len(queries) <= 6, [q["sql"][:80] for q in queries]
    assert _rows_outside_the_setup() == {}
    assert _setup_rows() == before
    assert accounts._cache == {}
    assert ContentType.objects._cache == {}
