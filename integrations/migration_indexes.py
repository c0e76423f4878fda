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
    postgresql = schema_editor.connection.vendor == "postgresql"
    extra = {"concurrently": True} if postgresql else {}
    if add is not None:
        schema_editor.add_index(model, add, **extra)
    if drop is not None:
        schema_editor.remove_index(model, drop, **extra)
