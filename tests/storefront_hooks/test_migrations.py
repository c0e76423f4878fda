"""The app's migrations on a live table: a deploy that is killed or times out
while an index is built CONCURRENTLY (it waits for every older transaction)
is finished by running ``migrate`` again. Needs ``--migrations``."""

from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.db import OperationalError, connection, connections

from integrations import migration_indexes
from tests.migration_state import migrated_back

# `make test` runs these in a second pass, with --migrations.
pytestmark = pytest.mark.migrations

TABLE = "storefront_hooks_webhookdelivery"
WAITING_INDEX = "webhookdelivery_waiting"


@pytest.fixture
def from_0001(request: pytest.FixtureRequest) -> Iterator[None]:
    with migrated_back(request, "storefront_hooks", "0001"):
        yield


def _indexes() -> dict[str, bool]:
    """The table's indexes by their columns' names: whether each is valid."""
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, TABLE)
        valid = {name: True for name in found}
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT c.relname, i.indisvalid FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE i.indrelid = %s::regclass",
                [TABLE],
            )
            valid = dict(cursor.fetchall())
    return {name: valid[name] for name, info in found.items() if info["index"]}


def _columns(table: str) -> set[str]:
    with connection.cursor() as cursor:
        described = connection.introspection.get_table_description(cursor, table)
    return {column.name for column in described}


def _kill_the_build(monkeypatch, *, after: bool) -> None:
    real = migration_indexes._swap

    def killed(*args, **kwargs):
        if after:  # built, then killed before the run was recorded
            real(*args, **kwargs)
        raise KeyboardInterrupt  # the deploy's timeout

    monkeypatch.setattr(migration_indexes, "_swap", killed)


def _time_out_waiting_for_a_writer(monkeypatch) -> None:
    """A transaction that may write the table is open when the build starts:
    CREATE INDEX CONCURRENTLY waits for it until the statement timeout
    cancels the build, which leaves an INVALID index."""
    real = migration_indexes._swap
    writer = connections.create_connection("default")
    writer.set_autocommit(False)

    def build_behind_a_writer(*args, **kwargs):
        with writer.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {TABLE} IN ROW EXCLUSIVE MODE")
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = '1s'")
        try:
            real(*args, **kwargs)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET statement_timeout")

    monkeypatch.setattr(migration_indexes, "_swap", build_behind_a_writer)
    try:
        with pytest.raises(OperationalError, match="statement timeout"):
            call_command("migrate", "storefront_hooks", verbosity=0)
    finally:
        writer.rollback()
        writer.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("interrupted", ["before-build", "after-build", "timeout"])
def test_the_pause_migrations_finish_when_run_again_after_an_interrupted_index_build(
    from_0001, monkeypatch, interrupted
) -> None:
    if interrupted == "timeout":
        if connection.vendor != "postgresql":
            pytest.skip("CREATE INDEX CONCURRENTLY is PostgreSQL's")
        _time_out_waiting_for_a_writer(monkeypatch)
        assert _indexes()[WAITING_INDEX] is False  # left INVALID
    else:
        _kill_the_build(monkeypatch, after=interrupted == "after-build")
        with pytest.raises(KeyboardInterrupt):
            call_command("migrate", "storefront_hooks", verbosity=0)
    monkeypatch.undo()

    call_command("migrate", "storefront_hooks", verbosity=0)

    assert "restarted_at" in _columns(TABLE)
    assert "paused_since" in _columns("storefront_hooks_webhookendpoint")
    indexes = _indexes()
    assert indexes[WAITING_INDEX] is True
    # The key's own index is gone; none is left invalid.
    assert not [n for n in indexes if n.startswith(f"{TABLE}_endpoint_id")]
    assert all(indexes.values())


@pytest.mark.django_db(transaction=True)
def test_the_pause_migrations_go_back_and_forth(from_0001) -> None:
    call_command("migrate", "storefront_hooks", verbosity=0)
    call_command("migrate", "storefront_hooks", "0001", verbosity=0)
    assert "restarted_at" not in _columns(TABLE)
    indexes = _indexes()
    assert WAITING_INDEX not in indexes
    assert "webhookdelivery_endpoint" in indexes  # the key's index again
    call_command("migrate", "storefront_hooks", verbosity=0)
    indexes = _indexes()
    assert WAITING_INDEX in indexes and "webhookdelivery_endpoint" not in indexes
