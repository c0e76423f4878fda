"""MIGRATION_LOCK_TIMEOUT_MS=0 is "no limit" (README): `manage.py migrate`
then waits for a lock as long as it takes, even where the database role has
a lock_timeout of its own (ALTER ROLE ... SET lock_timeout), which would
otherwise stop it part way."""

import time

import psycopg
import pytest

from tests.platform.suite43b_forked import in_background
from tests.platform.test_revops22_migrate_lock_timeout import (
    APP,
    HUNG,
    TABLE,
    _second,
    at_0001,  # noqa: F401 (scratch copies it)
    scratch,  # noqa: F401 (the fixture)
)

pytestmark = pytest.mark.postgres

ROLE_LIMIT_MS = 100


def test_zero_waits_past_a_lock_timeout_set_on_the_role(scratch):  # noqa: F811
    conninfo, env, migrations = scratch
    env = {**env, "MIGRATION_LOCK_TIMEOUT_MS": "0"}
    _second(
        migrations,
        f"""
        from django.db import migrations

        class Migration(migrations.Migration):
            dependencies = [("{APP}", "0001_initial")]
            operations = [migrations.RunSQL("ALTER TABLE {TABLE} ADD note text")]
        """,
    )
    with psycopg.connect(conninfo, autocommit=True) as admin:
        # The role's default in this database only: a DBA's guard.
        name = admin.info.dbname
        admin.execute(
            f'ALTER ROLE CURRENT_USER IN DATABASE "{name}" '
            f"SET lock_timeout = '{ROLE_LIMIT_MS}ms'"
        )
    with psycopg.connect(conninfo) as holder:
        holder.execute(f"SELECT count(*) FROM {TABLE}")  # noqa: S608
        migrate = in_background(
            "migrate", "--no-input", "-v0", APP, env=env, timeout=2 * HUNG
        )
        try:
            _wait_for_the_alter_to_wait(conninfo)
            time.sleep(5 * ROLE_LIMIT_MS / 1000)
            assert not migrate.done(), migrate.result()
        finally:
            holder.rollback()
        result = migrate.result(timeout=HUNG)
    assert result.returncode == 0, result.stderr[-800:]
    with psycopg.connect(conninfo) as check:
        # The role's setting is the database's to keep: not changed.
        (shown,) = check.execute("SHOW lock_timeout").fetchone()
        assert shown == f"{ROLE_LIMIT_MS}ms"
        check.execute(f"SELECT note FROM {TABLE}")  # noqa: S608


def _wait_for_the_alter_to_wait(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as watcher:
        for _ in range(2000):
            if watcher.execute(
                "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database() "  # not a neighbour's (xdist, CI)
                "AND query ILIKE 'ALTER TABLE%'"
            ).fetchone():
                return
            time.sleep(0.01)
    pytest.fail("migrate never waited for the lock")
