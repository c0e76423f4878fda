"""integrations.migration_ops.AddFieldIfMissing for a field whose column
needs more than the ALTER (a foreign key: its constraint and index, which
Django leaves to the end of the migration): a non-atomic migration killed
after the operation has them all, so skipping the column on the run again
loses nothing. Runs on today's models and tables."""

import pytest
from django.apps import apps
from django.db import connection, models
from django.db.migrations.state import ProjectState

from integrations.migration_ops import AddFieldIfMissing

pytestmark = pytest.mark.django_db(transaction=True)

APP = "storefront_hooks"
TABLE = "storefront_hooks_webhookdelivery"
COLUMN = "ops23_probe_id"


def _operation() -> AddFieldIfMissing:
    return AddFieldIfMissing(
        model_name="webhookdelivery",
        name="ops23_probe",
        field=models.ForeignKey(
            "storefront_hooks.webhookendpoint",
            null=True,
            on_delete=models.CASCADE,
            related_name="+",
        ),
    )


def _run(operation, before, after, *, backwards: bool = False) -> None:
    """The operation in a non-atomic migration killed right after it: what
    the schema editor deferred to its end never runs."""
    editor = connection.schema_editor(atomic=False)
    editor.__enter__()
    if backwards:
        operation.database_backwards(APP, editor, after, before)
    else:
        operation.database_forwards(APP, editor, before, after)
    editor.deferred_sql.clear()
    editor.__exit__(None, None, None)


def _on_column() -> dict[str, bool]:
    with connection.cursor() as cursor:
        columns = [
            c.name
            for c in connection.introspection.get_table_description(cursor, TABLE)
        ]
        found = connection.introspection.get_constraints(cursor, TABLE)
    on = [info for info in found.values() if info["columns"] == [COLUMN]]
    return {
        "column": COLUMN in columns,
        "foreign key": any(info["foreign_key"] for info in on),
        "index": any(info["index"] for info in on),
    }


def test_a_foreign_key_has_its_constraint_and_index_when_killed_after_it():
    operation = _operation()
    before = ProjectState.from_apps(apps)
    after = before.clone()
    operation.state_forwards(APP, after)
    try:
        _run(operation, before, after)
        assert _on_column() == {"column": True, "foreign key": True, "index": True}

        _run(operation, before, after)  # migrate again: skipped, no error
        assert _on_column() == {"column": True, "foreign key": True, "index": True}
    finally:
        _run(operation, before, after, backwards=True)
        _run(operation, before, after, backwards=True)  # already gone: skipped
    assert _on_column() == {"column": False, "foreign key": False, "index": False}


def test_it_is_rebuilt_from_deconstruct():
    # Its lock wait is MIGRATION_LOCK_TIMEOUT_MS's, no argument of its own.
    _, args, kwargs = _operation().deconstruct()
    assert "lock_timeout" not in kwargs
    assert AddFieldIfMissing(*args, **kwargs).deconstruct()[2] == kwargs
