"""small29b: `manage.py migrate` said a migration's own NOWAIT lock failure
(SQLSTATE 55P03 too: "could not obtain lock on ...", from LOCK TABLE ...
NOWAIT or SELECT ... FOR UPDATE NOWAIT) "could not get a lock within N ms
(MIGRATION_LOCK_TIMEOUT_MS)": it did not wait at all. That line is now kept
for lock_timeout's own error ("canceling statement due to lock timeout");
a NOWAIT one says so, in one line, whatever MIGRATION_LOCK_TIMEOUT_MS is.
An app and a database of their own, as an operator runs manage.py."""

import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from tests.platform.conftest import clean_env, dev_secrets
from tests.platform.forkstart import manage  # forked: settings read afresh
from tests.platform.test_revops22_migrate_lock_timeout import (
    APP,
    HUNG,
    INITIAL,
    MODELS,
    TABLE,
    _conninfo,
    copied,
    migrated_to_0001,
)

pytestmark = pytest.mark.postgres

NOWAIT = "could not get a lock it asked for without waiting (NOWAIT)"


def _app(root: Path, second: str) -> None:
    """The app, its 0002 running ``second``, under the module's ``root``."""
    migrations = root / APP / "migrations"
    migrations.mkdir(parents=True, exist_ok=True)
    (root / APP / "__init__.py").write_text("")
    (root / APP / "models.py").write_text(MODELS)
    (migrations / "__init__.py").write_text("")
    (migrations / "0001_initial.py").write_text(INITIAL)
    (migrations / "0002_second.py").write_text(
        "from django.db import migrations\n"
        "class Migration(migrations.Migration):\n"
        f"    dependencies = [('{APP}', '0001_initial')]\n"
        f"    operations = [migrations.RunSQL([{second!r}])]\n"
    )
    (root / "small29b_settings.py").write_text(
        f"from config.settings import *  # noqa\n"
        f"INSTALLED_APPS = [*INSTALLED_APPS, {APP!r}]\n"
    )


@pytest.fixture(scope="module")
def app_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The app's directory for the whole module: every start has the same
    PYTHONPATH, so all fork from one waiting Python (forkstart)."""
    root = tmp_path_factory.mktemp("small29b")
    # Before the first start: the waiting Python lists the directory once.
    _app(root, "SELECT 1")
    return root


@pytest.fixture(scope="module")
def at_0001(app_root: Path) -> Iterator[str]:
    name = f"{connection.settings_dict['NAME']}_small29b_0001"
    with migrated_to_0001(app_root, name) as template:
        yield template


@pytest.fixture
def database(at_0001: str) -> Iterator[tuple[str, str]]:
    """(conninfo, DATABASE_URL) of a database of its own, the app's 0001
    applied by `manage.py migrate` (a copy of ``at_0001``)."""
    name = f"{connection.settings_dict['NAME']}_small29b_nowait"
    with copied(at_0001, name):
        s = connection.settings_dict
        url = f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/{name}"
        yield _conninfo(name), url


def _run(app_root, database, second: str, hold: str, timeout_ms: str) -> list[str]:
    """stderr lines of `migrate` (0002 runs ``second``) while a transaction
    that ran ``hold`` is open; 0001 applied (``database``) and one row
    stored before."""
    conninfo, url = database
    _app(app_root, second)
    env = clean_env(
        **dev_secrets(),
        DEBUG="true",
        DATABASE_URL=url,
        MIGRATION_LOCK_TIMEOUT_MS=timeout_ms,
        DJANGO_SETTINGS_MODULE="small29b_settings",
        PYTHONPATH=str(app_root),
    )
    with psycopg.connect(conninfo, autocommit=True) as writer:
        writer.execute(f"INSERT INTO {TABLE} (name) VALUES ('a')")  # noqa: S608
    with psycopg.connect(conninfo) as holder:
        holder.execute(hold)
        try:
            result = manage("migrate", "--no-input", "-v0", APP, env=env, timeout=HUNG)
        except subprocess.TimeoutExpired:
            pytest.fail(f"migrate waited for the lock over {HUNG} s")
        finally:
            holder.rollback()
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, result.stderr[-800:]
    assert "Traceback" not in result.stderr, result.stderr[-800:]
    assert len(lines) == 1, lines
    return lines


LOCK_NOWAIT = f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE NOWAIT"
ROW_NOWAIT = f"SELECT id FROM {TABLE} FOR UPDATE NOWAIT"  # noqa: S608
READ = f"SELECT count(*) FROM {TABLE}"  # noqa: S608


@pytest.mark.parametrize(
    ("second", "hold"),
    [
        (LOCK_NOWAIT, READ),
        (ROW_NOWAIT, f"SELECT id FROM {TABLE} FOR UPDATE"),  # noqa: S608
    ],
    ids=["lock-table", "row"],
)
def test_a_nowait_lock_refused_says_it_did_not_wait(app_root, database, second, hold):
    lines = _run(app_root, database, second, hold, timeout_ms="200")

    assert f"{APP}.0002_second {NOWAIT}" in lines[0], lines
    assert "within" not in lines[0] and "MIGRATION_LOCK_TIMEOUT_MS" not in lines[0]
    assert "rolled back, run migrate again" in lines[0], lines


def test_a_nowait_lock_refused_is_one_line_with_no_lock_limit_too(app_root, database):
    lines = _run(
        app_root,
        database,
        LOCK_NOWAIT,
        READ,
        "0",
    )

    assert f"{APP}.0002_second {NOWAIT}" in lines[0], lines


def test_a_lock_timeout_still_says_how_long_it_waited(app_root, database):
    lines = _run(
        app_root,
        database,
        f"ALTER TABLE {TABLE} ADD COLUMN note text",
        READ,
        "200",
    )

    assert f"{APP}.0002_second could not get a lock within 200 ms" in lines[0], lines
    assert "NOWAIT" not in lines[0], lines
