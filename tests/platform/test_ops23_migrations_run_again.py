"""Every non-atomic migration (``atomic = False``) killed part way, after any
of its operations (forwards or backwards), is finished by running
``migrate`` again, leaving the schema a clean run leaves (README:
"Migrations and locks"). A kill is simulated: the first operations applied
by the migration's own code (historical models, the state before it), what
the schema editor deferred to its end never run, the migration not
recorded. Needs ``--migrations``."""

import copy
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader

from tests.migration_state import migrated_back_on_a_copy

pytestmark = [pytest.mark.migrations, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def _non_atomic() -> list[tuple[str, str, int]]:
    """(app, migration, operations) of this project's non-atomic migrations."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    found = []
    for (app, name), migration in sorted(loader.disk_migrations.items()):
        module = Path(__import__(migration.__module__, fromlist=["_"]).__file__)
        if not migration.atomic and module.resolve().is_relative_to(ROOT):
            found.append((app, name, len(migration.operations)))
    return found


NON_ATOMIC = _non_atomic()
APPS = sorted({app for app, _, _ in NON_ATOMIC})


def _schema() -> Any:
    """The database's columns, constraints and indexes (on PostgreSQL with
    their definitions and whether each index is valid)."""
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            return {
                table: (
                    sorted(map(tuple, _described(cursor, table))),
                    repr(sorted(_constraints(cursor, table).items())),
                )
                for table in connection.introspection.table_names(cursor)
            }
        found = []
        for query in SCHEMA_QUERIES:
            cursor.execute(query)
            found.append(cursor.fetchall())
    return found


def _described(cursor: Any, table: str) -> Any:
    return connection.introspection.get_table_description(cursor, table)


def _constraints(cursor: Any, table: str) -> Any:
    return connection.introspection.get_constraints(cursor, table)


SCHEMA_QUERIES = [
    "SELECT table_name, column_name, data_type, character_maximum_length, "
    "is_nullable, column_default FROM information_schema.columns "
    "WHERE table_schema = current_schema() ORDER BY 1, 2",
    "SELECT t.relname, c.relname, i.indisvalid, pg_get_indexdef(i.indexrelid) "
    "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
    "JOIN pg_class t ON t.oid = i.indrelid "
    "WHERE c.relnamespace = current_schema()::regnamespace ORDER BY 1, 2",
    "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
    "FROM pg_constraint WHERE connamespace = current_schema()::regnamespace "
    "ORDER BY 1, 2",
]


def _parent(app: str, name: str) -> str:
    migration = MigrationExecutor(connection).loader.get_migration(app, name)
    parents = [parent for label, parent in migration.dependencies if label == app]
    return parents[0] if parents else "zero"


def _before(app: str, name: str) -> tuple[Any, Any]:
    """(migration, the project state before it, rendered once: each kill
    runs on a clone)."""
    loader = MigrationExecutor(connection).loader
    state = loader.project_state((app, name), at_end=False)
    state.apps  # noqa: B018 (rendered here, cloned rendered)
    return loader.get_migration(app, name), state


def _killed(before: tuple[Any, Any], done: int, *, backwards: bool = False) -> None:
    """The migration run forwards (from its parent) or backwards (from
    itself) and killed after ``done`` operations."""
    migration, state = before[0], before[1].clone()
    partial = copy.copy(migration)
    if backwards:
        # Backwards runs the last operation first: the last ``done`` run.
        kept = len(migration.operations) - done
        for operation in migration.operations[:kept]:
            operation.state_forwards(migration.app_label, state)
        partial.operations = migration.operations[kept:]
    else:
        partial.operations = migration.operations[:done]
    editor = connection.schema_editor(atomic=migration.atomic)
    editor.__enter__()
    if backwards:
        partial.unapply(state, editor)
    else:
        partial.apply(state, editor)
    editor.deferred_sql.clear()  # killed: what waits for the end never ran
    editor.__exit__(None, None, None)


def test_the_project_has_non_atomic_migrations_to_check():
    names = {f"{app}.{name}" for app, name, _ in NON_ATOMIC}
    assert "integrations.0005_webhook_subject" in names
    assert "storefront_hooks.0006_delivery_waits_for_slot" in names


def _migrate(app: str, target: str) -> None:
    call_command("migrate", app, target, verbosity=0)


@pytest.mark.parametrize("app", APPS)
def test_killed_after_each_operation_migrate_again_finishes(request, app):
    """Per non-atomic migration of ``app``, per operation: killed forwards
    after it, migrating again gives the schema a clean run gives; killed
    backwards after it, migrating back again gives the schema before."""
    todo = [(name, total) for label, name, total in NON_ATOMIC if label == app]
    # Each migration ends at its parent, the schema a clean run gives (the
    # last assert): a copy dropped after, nothing to migrate forward again.
    with migrated_back_on_a_copy(request, app, _parent(app, todo[0][0])):
        for name, total in todo:
            parent = _parent(app, name)
            _migrate(app, parent)
            before = _schema()
            _migrate(app, name)
            after = _schema()
            _migrate(app, parent)
            state = _before(app, name)
            for done in range(1, total + 1):
                where = f"{app}.{name} killed after {done} of {total}"
                _killed(state, done)
                _migrate(app, name)
                assert _schema() == after, f"{where} forwards"
                _killed(state, done, backwards=True)
                _migrate(app, parent)
                assert _schema() == before, f"{where} backwards"
