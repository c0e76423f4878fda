"""Operations for non-atomic migrations (``atomic = False``), which a killed
deploy leaves part done and unrecorded: each step is done again only if not
done, so running ``migrate`` again finishes (README: "Migrations and locks")."""

from typing import Any

from django.db import migrations, transaction


class AddFieldIfMissing(migrations.AddField):
    """AddField in its own short transaction, with what it would leave to
    the migration's end (a foreign key's constraint, an index), skipped (or,
    backwards, its removal skipped) when an earlier run already did it.

    ``lock_timeout`` (PostgreSQL, e.g. ``"5s"``): the ALTER gives up its
    table lock after that long rather than queue every query behind it."""

    def __init__(self, *args: Any, lock_timeout: str | None = None, **kwargs: Any):
        self.lock_timeout = lock_timeout
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        name, args, kwargs = super().deconstruct()
        if self.lock_timeout is not None:
            kwargs["lock_timeout"] = self.lock_timeout
        return name, args, kwargs

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        if has_column(schema_editor, model, self.name):
            return
        deferred = len(schema_editor.deferred_sql)
        with transaction.atomic(using=schema_editor.connection.alias):
            self._lock_briefly(schema_editor)
            super().database_forwards(app_label, schema_editor, from_state, to_state)
            # Left to the end, a kill before it would lose them for good.
            for statement in schema_editor.deferred_sql[deferred:]:
                schema_editor.execute(statement)
            del schema_editor.deferred_sql[deferred:]

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        model = from_state.apps.get_model(app_label, self.model_name)
        if not has_column(schema_editor, model, self.name):
            return
        with transaction.atomic(using=schema_editor.connection.alias):
            self._lock_briefly(schema_editor)
            super().database_backwards(app_label, schema_editor, from_state, to_state)

    def _lock_briefly(self, schema_editor: Any) -> None:
        if self.lock_timeout and schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(
                "SELECT set_config('lock_timeout', %s, true)", [self.lock_timeout]
            )


def has_column(schema_editor: Any, model: Any, name: str) -> bool:
    """Whether ``model``'s table has the column of its field ``name``."""
    column = model._meta.get_field(name).column
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        found = connection.introspection.get_table_description(
            cursor, model._meta.db_table
        )
    return any(described.name == column for described in found)
