"""Operations for non-atomic migrations (``atomic = False``), which a killed
deploy leaves part done and unrecorded: each step is done again only if not
done, so running ``migrate`` again finishes (README: "Migrations and locks").
And ``column_default``, which migrations share to give a column a default
without copying its table. Migrations import these: keep them, unchanged in
what they do, for good."""

import copy
from typing import Any

from django.conf import settings
from django.db import migrations, transaction


def lock_timeout_text(timeout_ms: int | None = None) -> str:
    """PostgreSQL's ``lock_timeout`` for ``timeout_ms`` (by default
    MIGRATION_LOCK_TIMEOUT_MS): "0ms" waits for ever, as README says."""
    if timeout_ms is None:
        timeout_ms = settings.MIGRATION_LOCK_TIMEOUT_MS
    return f"{timeout_ms}ms"


class AddFieldIfMissing(migrations.AddField):
    """AddField in its own short transaction, with what it would leave to
    the migration's end (a foreign key's constraint, an index), skipped (or,
    backwards, its removal skipped) when an earlier run already did it.

    On PostgreSQL the ALTER waits for its table lock at most
    MIGRATION_LOCK_TIMEOUT_MS (``call_command`` too: the command's session
    limit is ``manage.py``'s only), rather than queue every query behind it."""

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
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(
                "SELECT set_config('lock_timeout', %s, true)", [lock_timeout_text()]
            )


class AddCheckedFieldIfMissing(AddFieldIfMissing):
    """AddFieldIfMissing for a field whose column has a CHECK (a
    PositiveIntegerField's ``>= 0``) on a large table. Inline, PostgreSQL
    checks every row while it holds the table's ACCESS EXCLUSIVE lock (no
    rewrite, still a full scan that queues every query): here the column goes
    on unchecked with the check NOT VALID, in one short transaction, and the
    check is validated after, under a lock reads and writes pass. Named as
    PostgreSQL names an inline check, so the schema ends as AddField's."""

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        connection = schema_editor.connection
        model = to_state.apps.get_model(app_label, self.model_name)
        field = model._meta.get_field(self.name)
        check = field.db_check(connection)
        if connection.vendor != "postgresql" or not check:
            super().database_forwards(app_label, schema_editor, from_state, to_state)
            return
        quote = schema_editor.quote_name
        table = quote(model._meta.db_table)
        name = quote(f"{model._meta.db_table}_{field.column}_check")
        if not has_column(schema_editor, model, self.name):
            unchecked = copy.copy(field)
            unchecked.db_check = lambda connection: None  # type: ignore[method-assign]
            with transaction.atomic(using=connection.alias):
                self._lock_briefly(schema_editor)
                schema_editor.add_field(model, unchecked)
                schema_editor.execute(
                    f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({check}) "
                    "NOT VALID"
                )
        # Again on a run after a kill here: validating a valid check is quick.
        schema_editor.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}")


def has_column(schema_editor: Any, model: Any, name: str) -> bool:
    """Whether ``model``'s table has the column of its field ``name``."""
    column = model._meta.get_field(name).column
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        found = connection.introspection.get_table_description(
            cursor, model._meta.db_table
        )
    return any(described.name == column for described in found)


def column_default(table: str, column: str, default: str) -> migrations.RunPython:
    """Set ``table``'s ``column`` default to the SQL expression ``default``
    (backwards: drop it) on PostgreSQL, a catalogue change that rewrites no
    row. SQLite is left as it is: a changed default copies its whole table,
    and its INSERTs carry a ``db_default``'s expression themselves. For a
    ``SeparateDatabaseAndState`` whose state sets the field's ``db_default``."""

    def alter(schema_editor: Any, action: str) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        quote = schema_editor.quote_name
        schema_editor.execute(
            f"ALTER TABLE {quote(table)} ALTER COLUMN {quote(column)} {action}"
        )

    def forwards(apps: Any, schema_editor: Any) -> None:
        alter(schema_editor, f"SET DEFAULT ({default})")

    def backwards(apps: Any, schema_editor: Any) -> None:
        alter(schema_editor, "DROP DEFAULT")

    return migrations.RunPython(forwards, backwards, elidable=False)
