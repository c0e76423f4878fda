"""Shared by the tests that run the real migrations (``pytest --migrations
-m migrations``, the second pass of ``make test``): an app migrated back for
one test, and the models as they were at a migration."""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.apps.registry import Apps
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def skip_without_migrations(request: pytest.FixtureRequest) -> None:
    if request.config.getoption("nomigrations"):
        pytest.skip("runs the migrations (pytest --migrations)")


@contextmanager
def migrated_back(
    request: pytest.FixtureRequest, app: str, target: str
) -> Iterator[None]:
    """``app`` migrated back to ``target`` for the block, then every app
    forward again: the other tests expect today's schema."""
    skip_without_migrations(request)
    call_command("migrate", app, target, verbosity=0)
    try:
        yield
    finally:
        call_command("migrate", verbosity=0)


@contextmanager
def migrated_back_on_a_copy(
    request: pytest.FixtureRequest, app: str, target: str
) -> Iterator[None]:
    """``migrated_back`` for a block that leaves the schema as a clean run
    does and asserts nothing after it: on PostgreSQL it runs on a copy of the
    test database (CREATE DATABASE ... TEMPLATE), dropped after the block,
    instead of migrating every app forward again (from an early migration,
    most of the project's migrations, the larger part of such a test's
    time). Connections opened from ``connection.settings_dict`` in the block
    open the copy; a child process would open the original."""
    if connection.vendor != "postgresql":
        with migrated_back(request, app, target):
            yield
        return
    skip_without_migrations(request)
    with _on_a_copy():
        call_command("migrate", app, target, verbosity=0)
        yield


@contextmanager
def _on_a_copy() -> Iterator[None]:
    settings = connection.settings_dict
    original, copy = settings["NAME"], f"{settings['NAME']}_copy"
    quote = connection.ops.quote_name
    connection.close()
    with connection._nodb_cursor() as cursor:
        # A template must have no session: ours is closed, and any left by
        # an earlier test's thread is this worker's own (a database each).
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            [original],
        )
        cursor.execute(f"DROP DATABASE IF EXISTS {quote(copy)} WITH (FORCE)")
        cursor.execute(f"CREATE DATABASE {quote(copy)} TEMPLATE {quote(original)}")
    settings["NAME"] = copy
    try:
        yield
    finally:
        connection.close()
        settings["NAME"] = original
        with connection._nodb_cursor() as cursor:
            cursor.execute(f"DROP DATABASE {quote(copy)} WITH (FORCE)")


def historical_apps(app: str, migration: str) -> Apps:
    """The models as ``app``'s ``migration`` (its name or a unique prefix of
    it) leaves them: today's models name columns later migrations add."""
    loader = MigrationExecutor(connection).loader
    name = loader.get_migration_by_prefix(app, migration).name
    return loader.project_state((app, name)).apps


def defers_check_state(table: str) -> tuple[str, bool] | None:
    """The name of ``table``'s CHECK on its ``defers`` column and whether it
    is validated (PostgreSQL), or None without one."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.conname, c.convalidated FROM pg_constraint c "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid "
            "AND a.attnum = ANY (c.conkey) "
            "WHERE c.conrelid = %s::regclass AND c.contype = 'c' "
            "AND a.attname = 'defers'",
            [table],
        )
        return cursor.fetchone()
