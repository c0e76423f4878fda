"""A database that is reachable but was never migrated (``migrate`` not run
yet): every command that needs a table says so in one line on stderr and
exits 1, never a traceback."""

import os
from functools import partial

import pytest
from django.db import connection

from tests.platform.conftest import ROOT, side_by_side
from tests.platform.forkstart import manage as _manage

COMMANDS = [
    ["batch_jobs", "cancel", "1"],
    ["refresh_tracking", "shp_x"],
    ["sync_inventory", "--account", "erp"],
    ["create_purchase_orders", "--sku", "X"],
    ["send_bulk", "--cancel", "bulk_x"],
]


def _env(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        PYTHONPATH=str(ROOT),
        DATABASE_URL=database_url,
    )
    return env


def _one_line(result) -> str:
    # JSON log lines are the log's own records (the secret registry's
    # refresh finds no table either), not what the command said.
    lines = [
        line
        for line in result.stderr.splitlines()
        if line.strip() and not line.startswith('{"ts"')
    ]
    assert result.returncode == 1, result.stderr[-800:]
    assert "Traceback" not in result.stderr, result.stderr[-800:]
    assert len(lines) == 1, lines[-5:]
    return lines[0]


@pytest.fixture(scope="module")
def on_empty_sqlite(tmp_path_factory) -> dict:
    """Each of COMMANDS on an empty SQLite file of its own, run side by side
    once, by its arguments."""
    calls = {}
    for number, args in enumerate(COMMANDS):
        db = tmp_path_factory.mktemp(f"empty{number}") / "empty.sqlite3"
        calls[tuple(args)] = partial(_manage, *args, env=_env(f"sqlite:///{db}"))
    return side_by_side(calls)


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a) for a in COMMANDS])
def test_an_empty_sqlite_database_is_one_line_naming_migrate(on_empty_sqlite, args):
    result = on_empty_sqlite[tuple(args)]

    line = _one_line(result)
    assert line.startswith("the database has no table "), line
    assert "run manage.py migrate" in line, line


@pytest.mark.postgres
def test_an_empty_postgres_database_is_one_line_naming_migrate():
    s = connection.settings_dict
    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL server")
    # The server's maintenance database: reachable, none of our tables.
    url = f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/postgres"

    line = _one_line(_manage("refresh_tracking", "shp_x", env=_env(url)))

    assert line.startswith("the database has no table "), line
    assert "run manage.py migrate" in line, line
    assert s["PASSWORD"] not in line
