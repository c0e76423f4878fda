"""The index helper of migrations on busy tables is re-runnable: a deploy
killed during a build, or a build cancelled (an INVALID index on
PostgreSQL), is finished by running it again."""

import pytest
from django.apps import apps
from django.db import OperationalError, connection, connections, models

from integrations import migration_indexes
from integrations.models import Event

INDEX = models.Index(fields=["name", "created_at"], name="test_swap_again")
TABLE = Event._meta.db_table


def _run(*, add=None, drop=None, backwards=False) -> None:
    swap = migration_indexes.index_swap("integrations", "event", add=add, drop=drop)
    step = swap.database_operations[0]
    code = step.reverse_code if backwards else step.code
    with connection.schema_editor(atomic=False) as editor:
        code(apps, editor)


def _validity() -> dict[str, bool]:
    with connection.schema_editor(atomic=False) as editor:
        return migration_indexes._index_validity(editor, Event)


@pytest.mark.django_db(transaction=True)
def test_adding_and_dropping_twice_is_the_same_as_once():
    try:
        _run(add=INDEX)
        _run(add=INDEX)  # the first run's build survived a killed deploy
        assert _validity()[INDEX.name] is True
        _run(add=INDEX, backwards=True)
        _run(add=INDEX, backwards=True)
        assert INDEX.name not in _validity()
    finally:
        _run(add=INDEX, backwards=True)


@pytest.mark.django_db(transaction=True)
def test_an_index_a_cancelled_build_left_invalid_is_built_again():
    if connection.vendor != "postgresql":
        pytest.skip("only PostgreSQL leaves an INVALID index behind")
    writer = connections.create_connection("default")
    writer.set_autocommit(False)
    try:
        with writer.cursor() as cursor:  # a writer the build must wait for
            cursor.execute(f"LOCK TABLE {TABLE} IN ROW EXCLUSIVE MODE")
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = '1s'")
        with pytest.raises(OperationalError, match="statement timeout"):
            _run(add=INDEX)
        writer.rollback()
        with connection.cursor() as cursor:
            cursor.execute("RESET statement_timeout")
        assert _validity()[INDEX.name] is False

        _run(add=INDEX)

        assert _validity()[INDEX.name] is True
    finally:
        writer.rollback()
        writer.close()
        _run(add=INDEX, backwards=True)
