"""`manage.py migrate`'s CONCURRENTLY exemption (README: "Migrations and
locks") wherever the build runs: on a connection the migration opened in a
thread, and as psycopg's composed SQL (``psycopg.sql``). Each build waits for
an older transaction longer than MIGRATION_LOCK_TIMEOUT_MS, then finishes."""

import time

import psycopg
import pytest

from tests.platform.suite43b_forked import in_background
from tests.platform.test_revops22_migrate_lock_timeout import (
    APP,
    HUNG,
    LOCK_TIMEOUT_MS,
    TABLE,
    _second,
    at_0001,  # noqa: F401 (scratch copies it)
    scratch,  # noqa: F401 (the fixture)
)

pytestmark = pytest.mark.postgres

COMPOSED = f"""
from django.db import migrations
from psycopg import sql

def forwards(apps, schema_editor):
    build = sql.SQL("CREATE INDEX CONCURRENTLY {{}} ON {{}} (name)").format(
        sql.Identifier("thing_name"), sql.Identifier("{TABLE}")
    )
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(build)

class Migration(migrations.Migration):
    atomic = False
    dependencies = [("{APP}", "0001_initial")]
    operations = [migrations.RunPython(forwards)]
"""
THREAD = f"""
from concurrent.futures import ThreadPoolExecutor
from django.db import connections, migrations

def forwards(apps, schema_editor):
    def build():
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute(
                    "CREATE INDEX CONCURRENTLY thing_name ON {TABLE} (name)"
                )
        finally:
            connections["default"].close()

    ThreadPoolExecutor(1).submit(build).result()

class Migration(migrations.Migration):
    atomic = False
    dependencies = [("{APP}", "0001_initial")]
    operations = [migrations.RunPython(forwards)]
"""


def _build_waits(conninfo: str) -> bool:
    """Whether the build is waiting for the older transaction."""
    with psycopg.connect(conninfo, autocommit=True) as watcher:
        return bool(
            watcher.execute(
                "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database() "  # not a neighbour's (xdist, CI)
                "AND query ILIKE %s "
                # Waiting past the limit: a build bound by it has failed.
                "AND now() - query_start > 5 * %s * interval '1 ms'",
                ["%create index concurrently%", int(LOCK_TIMEOUT_MS)],
            ).fetchone()
        )


@pytest.mark.parametrize("migration", [THREAD, COMPOSED], ids=["thread", "composed"])
def test_a_concurrent_build_waits_for_older_transactions(scratch, migration):  # noqa: F811
    conninfo, env, migrations = scratch
    _second(migrations, migration)
    with psycopg.connect(conninfo) as holder:
        # A long report: the build waits for it instead of failing on the
        # lock timeout and leaving an INVALID index.
        holder.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        holder.execute(f"SELECT count(*) FROM {TABLE}")  # noqa: S608
        migrate = in_background(
            "migrate", "--no-input", "-v0", APP, env=env, timeout=2 * HUNG
        )
        ends = time.monotonic() + HUNG  # a bound on a failing run only
        try:
            while not _build_waits(conninfo):
                # Ended while the report runs: the build gave up its wait.
                assert not migrate.done(), migrate.result()
                assert time.monotonic() < ends, "the build never waited"
                time.sleep(0.02)
        finally:
            holder.rollback()
        result = migrate.result(timeout=HUNG)
    assert result.returncode == 0, result.stderr[-800:]
    with psycopg.connect(conninfo) as check:
        valid = check.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'thing_name'::regclass"
        ).fetchone()
    assert valid == (True,)
