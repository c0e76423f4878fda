"""Index changes for migrations on tables that are written all the time.

On PostgreSQL a plain CREATE INDEX in a migration's transaction holds a lock
that stops every write (and, after a DROP INDEX in the same transaction,
every read) of the table until the build ends. These are built and dropped
CONCURRENTLY there; the migration must say ``atomic = False``. SQLite has no
such lock and no such option.
"""

from typing import Any

from django.db import migrations, models


def index_swap(
    app_label: str,
    model_name: str,
    *,
    add: models.Index | None = None,
    drop: models.Index | None = None,
) -> migrations.SeparateDatabaseAndState:
    """Add ``add`` and drop ``drop`` (either may be None): the new index is
    built before the old one goes, so queries always have one."""
    state: list[migrations.operations.base.Operation] = []
    if drop is not None:
        state.append(migrations.RemoveIndex(model_name=model_name, name=drop.name))
    if add is not None:
        state.append(migrations.AddIndex(model_name=model_name, index=add))

    def forwards(apps: Any, schema_editor: Any) -> None:
        _swap(schema_editor, apps.get_model(app_label, model_name), add, drop)

    def backwards(apps: Any, schema_editor: Any) -> None:
        _swap(schema_editor, apps.get_model(app_label, model_name), drop, add)

    return migrations.SeparateDatabaseAndState(
        state_operations=state,
        database_operations=[migrations.RunPython(forwards, backwards)],
    )


def _swap(
    schema_editor: Any, model: Any, add: models.Index | None, drop: models.Index | None
) -> None:
    """Re-runnable: a deploy killed mid-build (or a build cancelled, which
    leaves an INVALID index on PostgreSQL) is finished by migrating again."""
    postgresql = schema_editor.connection.vendor == "postgresql"
    extra = {"concurrently": True} if postgresql else {}
    found = _index_validity(schema_editor, model)
    if add is not None and found.get(add.name) is not True:
        if add.name in found:  # left INVALID by a cancelled build
            schema_editor.remove_index(model, add, **extra)
        schema_editor.add_index(model, add, **extra)
    if drop is not None and drop.name in found:
        schema_editor.remove_index(model, drop, **extra)


def _index_validity(schema_editor: Any, model: Any) -> dict[str, bool]:
    """The table's indexes by name: whether each is usable."""
    connection = schema_editor.connection
    table = model._meta.db_table
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, table)
        names = {name: True for name, info in found.items() if info["index"]}
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT c.relname, i.indisvalid FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE i.indrelid = %s::regclass",
                [table],
            )
            names.update((name, valid) for name, valid in cursor.fetchall())
    return names
