"""The flush's kept table list (tests/pg.py ``django_tables``) is Django's
tables of the apps installed at that flush: a flush run with fewer apps (a
test's ``available_apps``, as TransactionTestCase and pytest-django's
``django_db(available_apps=...)`` set them) must not leave its shorter list
to the next flush, which would then leave rows of the other apps behind."""

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.db import connection

from integrations.models import ProviderAccount
from tests.factories import ProviderAccountFactory
from tests.pg import flush_as_after_a_test

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

FEWER_APPS = ["django.contrib.contenttypes", "django.contrib.auth"]


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the flush by DELETE is PostgreSQL's")


def _alter_a_table() -> None:
    # DDL that moves the schema version: the next flush reads the list anew.
    fill = 90 if "fillfactor=90" not in _options() else 100
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER TABLE "auth_group" SET (fillfactor = {fill})')


def _options() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'auth_group'")
        return str(cursor.fetchone()[0])


def _flush_with_fewer_apps() -> None:
    """What TransactionTestCase's teardown runs for a test with
    ``available_apps``: the registry holds those apps only."""
    apps.set_available_apps(FEWER_APPS)
    try:
        flush_as_after_a_test(available_apps=True)
    finally:
        apps.unset_available_apps()


def test_a_flush_after_one_with_fewer_apps_still_empties_every_table():
    _alter_a_table()
    try:
        _flush_with_fewer_apps()
        ProviderAccountFactory()

        flush_as_after_a_test()

        assert not ProviderAccount.objects.exists()
    finally:
        with connection.cursor() as cursor:
            cursor.execute('ALTER TABLE "auth_group" RESET (fillfactor)')


def test_a_flush_with_fewer_apps_empties_only_theirs():
    flush_as_after_a_test()  # the full list kept
    ProviderAccountFactory()
    Group.objects.create(name="of an available app")

    _flush_with_fewer_apps()

    assert not Group.objects.exists()
    assert ProviderAccount.objects.exists()
