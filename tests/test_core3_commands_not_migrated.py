"""A provider command on a database that exists but was never migrated says
so in exactly one line on stderr: the secret registry, loaded before the
command runs, finds no table either, and must not log its own warning line
before manage.py's."""

import os
from functools import partial

import pytest
from django.db import connection

from tests.platform.conftest import ROOT, side_by_side
from tests.platform.forkstart import manage as _manage  # settings read afresh

COMMANDS = [
    ["check_integrations"],
    ["batch_jobs", "list"],
    ["refresh_tracking", "shp_x"],
    ["sync_inventory", "--account", "erp"],
    ["create_purchase_orders", "--sku", "X"],
    ["send_bulk", "--cancel", "bulk_x"],
    ["reconcile_payments"],
    ["run_recurring_charges"],
]


def _env(database_url: str, redis_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        PYTHONPATH=str(ROOT),
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
    )
    return env


def _exactly_one_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, result.stderr[-800:]
    assert lines, result.stderr
    assert len(lines) == 1, lines[:5]
    line = lines[0]
    assert line.startswith("the database has no table "), line
    assert "run manage.py migrate" in line, line
    return line


@pytest.fixture(scope="module")
def on_empty_sqlite(tmp_path_factory) -> dict:
    """Each of COMMANDS on an empty SQLite file of its own, run side by side
    once, by its arguments. No Redis: the database cache's table is missing
    too."""
    calls = {}
    for number, args in enumerate(COMMANDS):
        db = tmp_path_factory.mktemp(f"empty{number}") / "empty.sqlite3"
        env = _env(f"sqlite:///{db}", "")
        calls[tuple(args)] = partial(_manage, *args, env=env)
    return side_by_side(calls)


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a) for a in COMMANDS])
def test_an_empty_sqlite_database_is_exactly_one_line(on_empty_sqlite, args):
    _exactly_one_line(on_empty_sqlite[tuple(args)])


@pytest.mark.redis
def test_an_empty_database_with_redis_is_exactly_one_line(tmp_path, settings):
    if not settings.REDIS_URL:
        pytest.skip("needs service: Redis not configured (set REDIS_URL)")
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    env = _env(url, settings.REDIS_URL)
    _exactly_one_line(_manage("refresh_tracking", "shp_x", env=env))


@pytest.mark.postgres
def test_an_empty_postgres_database_is_exactly_one_line(settings):
    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL server")
    s = connection.settings_dict
    # The server's maintenance database: reachable, none of our tables.
    url = f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/postgres"

    line = _exactly_one_line(
        _manage("sync_inventory", "--account", "erp", env=_env(url, ""))
    )

    assert s["PASSWORD"] not in line
