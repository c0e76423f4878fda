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


def historical_apps(app: str, migration: str) -> Apps:
    """The models as ``app``'s ``migration`` (its name or a unique prefix of
    it) leaves them: today's models name columns later migrations add."""
    loader = MigrationExecutor(connection).loader
    name = loader.get_migration_by_prefix(app, migration).name
    return loader.project_state((app, name)).apps
