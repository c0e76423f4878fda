"""`manage.py migrate` on PostgreSQL waits at most MIGRATION_LOCK_TIMEOUT_MS
for a lock: queued behind a long transaction, a migration's ACCESS EXCLUSIVE
lock would hold up every query of the table behind it. It stops in one line
instead, and running it again once the lock is free finishes. A CONCURRENTLY
index build (which waits for older transactions without holding anyone up)
is not cut short. `call_command("migrate")` (the test database's creation)
is left as Django has it."""

import subprocess
import time
from collections.abc import Iterator

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from tests.platform.conftest import clean_env, dev_secrets
from tests.platform.forkstart import manage  # forked: settings read afresh
from tests.platform.suite43b_forked import in_background

pytestmark = pytest.mark.postgres

LOCK_TIMEOUT_MS = "100"  # short: tests wait five of it where migrate must not stop


def _conninfo(name: str) -> str:
    s = connection.settings_dict
    return (
        f"host={s['HOST']} port={s['PORT'] or 5432} user={s['USER']} "
        f"password={s['PASSWORD']} dbname={name}"
    )


@pytest.fixture
def scratch() -> Iterator[tuple[str, dict[str, str]]]:
    """(conninfo, manage.py environment) of a database of its own."""
    name = f"{connection.settings_dict['NAME']}_ops22_locks"
    with psycopg.connect(_conninfo("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            s = connection.settings_dict
            url = (
                f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/{name}"
            )
            env = clean_env(
                **dev_secrets(),
                DEBUG="true",
                DATABASE_URL=url,
                MIGRATION_LOCK_TIMEOUT_MS=LOCK_TIMEOUT_MS,
            )
            yield _conninfo(name), env
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _migrate(env: dict[str, str], *target: str) -> subprocess.CompletedProcess:
    result = manage("migrate", "--no-input", "-v0", *target, env=env)
    assert result.returncode == 0, result.stderr[-800:]
    return result


def test_a_held_table_lock_stops_migrate_in_one_line_and_a_retry_finishes(scratch):
    conninfo, env = scratch
    _migrate(env, "contenttypes", "0001")
    with psycopg.connect(conninfo) as holder:
        # A long transaction that read the table: 0002 alters it.
        holder.execute("SELECT count(*) FROM django_content_type")
        # Were migrate to wait for the lock, it would wait until manage()'s
        # timeout: the transaction stays open until it has answered.
        result = manage("migrate", "--no-input", "contenttypes", env=env)
        holder.rollback()

    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, result.stderr[-800:]
    assert "Traceback" not in result.stderr, result.stderr[-800:]
    assert len(lines) == 1, lines
    assert "contenttypes.0002_remove_content_type_name" in lines[0], lines
    assert f"within {LOCK_TIMEOUT_MS} ms (MIGRATION_LOCK_TIMEOUT_MS)" in lines[0]
    assert "run migrate again" in lines[0], lines
    # Rolled back whole: the retry applies it.
    _migrate(env, "contenttypes")
    shown = manage("showmigrations", "contenttypes", env=env)
    assert "[X] 0002_remove_content_type_name" in shown.stdout, shown.stdout


def test_a_concurrent_index_build_waits_for_an_older_transaction(scratch):
    conninfo, env = scratch
    _migrate(env, "integrations", "0003")
    with psycopg.connect(conninfo, autocommit=True) as watcher:
        with psycopg.connect(conninfo) as holder:
            # A long report's transaction: its snapshot is kept till its end.
            holder.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            holder.execute("SELECT count(*) FROM integrations_event")
            process = in_background(
                "migrate",
                "--no-input",
                "-v0",
                "integrations",
                "0004",
                env=env,
                timeout=120,  # a bound on a failing run only
            )
            try:
                _wait_for_concurrent_build_waiting(watcher)
                # Five lock timeouts: a build cut short would have failed.
                time.sleep(5 * int(LOCK_TIMEOUT_MS) / 1000)
                assert not process.done(), process.result()
            finally:
                holder.rollback()
            result = process.result(timeout=60)
        assert result.returncode == 0, result.stderr[-800:]
        valid = watcher.execute(
            "SELECT indisvalid FROM pg_index "
            "WHERE indexrelid = 'event_subject_created'::regclass"
        ).fetchone()
        assert valid == (True,)


def _wait_for_concurrent_build_waiting(watcher: psycopg.Connection) -> None:
    for _ in range(6000):
        waiting = watcher.execute(
            "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database() "  # not a neighbour's (xdist, CI)
            "AND query ILIKE '%CREATE INDEX CONCURRENTLY%'"
        ).fetchone()
        if waiting:
            return
        time.sleep(0.01)
    pytest.fail("the index build never waited for the older transaction")


@pytest.mark.django_db
def test_call_command_migrate_sets_no_lock_timeout(settings):
    # The test database is created by call_command("migrate").
    settings.MIGRATION_LOCK_TIMEOUT_MS = 200
    with connection.cursor() as cursor:
        cursor.execute("SHOW lock_timeout")
        before = cursor.fetchone()
        call_command("migrate", verbosity=0)
        cursor.execute("SHOW lock_timeout")
        assert cursor.fetchone() == before


def test_a_negative_lock_timeout_stops_the_start(tmp_path):
    env = clean_env(
        **dev_secrets(),
        DEBUG="true",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db'}",
        MIGRATION_LOCK_TIMEOUT_MS="-1",
    )
    result = manage("check", env=env)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "switchyard: configuration error: "
        "MIGRATION_LOCK_TIMEOUT_MS must be 0 (no limit) or more"
    ]
