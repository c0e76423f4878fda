"""`manage.py migrate`'s lock timeout (MIGRATION_LOCK_TIMEOUT_MS) where a
migration does what real ones do: a RunPython that closes the connection or
uses one of its own (a thread's), SQL that only mentions CONCURRENTLY, an
index built concurrently by hand-written lower-case SQL, and a lock wait
after the last migration is applied (post-migrate: content types). Each runs
against a database of its own, with an app of its own (a settings module
adding it), the way an operator runs manage.py: forked (forkstart), the
app's directory the module's own, so every start has the same PYTHONPATH and
forks from one waiting Python."""

import subprocess
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from tests.platform.conftest import clean_env, dev_secrets
from tests.platform.forkstart import manage  # forked: settings read afresh
from tests.platform.suite43b_forked import in_background

pytestmark = pytest.mark.postgres

LOCK_TIMEOUT_MS = "100"  # short: tests wait five of it where migrate must not stop
APP = "revops22_app"
TABLE = f"{APP}_thing"
# Far beyond the lock timeout: a migrate still waiting by then never stops.
HUNG = 20

INITIAL = """
from django.db import migrations, models

class Migration(migrations.Migration):
    dependencies = [("contenttypes", "0002_remove_content_type_name")]
    operations = [
        migrations.CreateModel(
            name="Thing",
            fields=[("id", models.BigAutoField(primary_key=True)),
                    ("name", models.TextField(default=""))],
        ),
    ]
"""

MODELS = """
from django.db import models

class Thing(models.Model):
    name = models.TextField(default="")
"""


def _conninfo(name: str) -> str:
    s = connection.settings_dict
    return (
        f"host={s['HOST']} port={s['PORT'] or 5432} user={s['USER']} "
        f"password={s['PASSWORD']} dbname={name}"
    )


def _write_app(root: Path) -> Path:
    """The app (0001 only) and a settings module adding it, under ``root``
    (what a test added to the app before removed); returns its migrations
    directory."""
    migrations = root / APP / "migrations"
    migrations.mkdir(parents=True, exist_ok=True)
    (migrations / "0002_second.py").unlink(missing_ok=True)
    (root / APP / "__init__.py").write_text("")
    (root / APP / "models.py").write_text(MODELS)
    (migrations / "__init__.py").write_text("")
    (migrations / "0001_initial.py").write_text(INITIAL)
    (root / "revops22_settings.py").write_text(
        f"from config.settings import *  # noqa\n"
        f"INSTALLED_APPS = [*INSTALLED_APPS, {APP!r}]\n"
    )
    return migrations


def _env(root: Path, name: str) -> dict[str, str]:
    s = connection.settings_dict
    url = f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/{name}"
    return clean_env(
        **dev_secrets(),
        DEBUG="true",
        DATABASE_URL=url,
        MIGRATION_LOCK_TIMEOUT_MS=LOCK_TIMEOUT_MS,
        DJANGO_SETTINGS_MODULE="revops22_settings",
        PYTHONPATH=str(root),
    )


@contextmanager
def migrated_to_0001(root: Path, name: str) -> Iterator[str]:
    """A database ``name`` that `manage.py migrate` took to the app's 0001,
    to copy for each test (``copied``): migrating it per test took a
    manage.py start each."""
    with psycopg.connect(_conninfo("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            _write_app(root)
            _migrate(_env(root, name), APP, "0001")
            yield name
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def copied(template: str, name: str) -> Iterator[str]:
    """A database ``name`` of its own, as ``template`` is (no one is
    connected to a template: the copy is exact)."""
    with psycopg.connect(_conninfo("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        try:
            yield name
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def at_0001(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, Path]]:
    """(a database at the app's 0001 to copy, the app's directory): the
    directory the module's, each test resetting the app there."""
    root = tmp_path_factory.mktemp("revops22")
    name = f"{connection.settings_dict['NAME']}_revops22_0001"
    with migrated_to_0001(root, name) as template:
        yield template, root


@pytest.fixture
def scratch(at_0001: tuple[str, Path]) -> Iterator[tuple[str, dict[str, str], Path]]:
    """(conninfo, manage.py environment, migrations directory) of a database
    and an app of their own (0001 only again), 0001 (the table) applied."""
    template, root = at_0001
    name = f"{connection.settings_dict['NAME']}_revops22_locks"
    migrations = _write_app(root)
    with copied(template, name):
        yield _conninfo(name), _env(root, name), migrations


def _migrate(env: dict[str, str], *target: str) -> None:
    result = manage("migrate", "--no-input", "-v0", *target, env=env)
    assert result.returncode == 0, result.stderr[-800:]


def _second(migrations: Path, body: str) -> None:
    (migrations / "0002_second.py").write_text(textwrap.dedent(body))


def _migrate_while(conninfo: str, env: dict[str, str], hold: str) -> list[str]:
    """stderr lines of `migrate` run while a transaction has run ``hold``;
    fails (rather than hangs) if migrate waits for the lock."""
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


# RunPython functions that leave the command's connection for another one.
RECONNECTED = """
def forwards(apps, schema_editor):
    schema_editor.connection.close()  # the next statement reconnects
    schema_editor.execute(ALTER)
"""
THREAD = """
def forwards(apps, schema_editor):
    def alter():
        with connections["default"].cursor() as cursor:
            cursor.execute(ALTER)

    ThreadPoolExecutor(1).submit(alter).result()
"""


@pytest.mark.parametrize(
    "forwards", [RECONNECTED, THREAD], ids=["reconnected", "thread"]
)
def test_a_connection_other_than_the_first_keeps_the_lock_timeout(scratch, forwards):
    conninfo, env, migrations = scratch
    (migrations / "0002_second.py").write_text(
        "from concurrent.futures import ThreadPoolExecutor\n"
        "from django.db import connections, migrations\n"
        f"ALTER = 'ALTER TABLE {TABLE} ADD COLUMN note text'\n"
        f"{forwards}\n"
        "class Migration(migrations.Migration):\n"
        "    atomic = False\n"
        f"    dependencies = [('{APP}', '0001_initial')]\n"
        "    operations = [migrations.RunPython(forwards)]\n"
    )
    lines = _migrate_while(conninfo, env, f"SELECT count(*) FROM {TABLE}")  # noqa: S608

    assert f"{APP}.0002_second could not get a lock within" in lines[0], lines


def test_a_statement_that_only_mentions_concurrently_keeps_the_lock_timeout(
    scratch,
):
    conninfo, env, migrations = scratch
    # RunSQL's list form keeps comments (its string form strips them).
    _second(
        migrations,
        f"""
        from django.db import migrations

        class Migration(migrations.Migration):
            dependencies = [("{APP}", "0001_initial")]
            operations = [migrations.RunSQL(
                ["ALTER TABLE {TABLE} ADD COLUMN note text "
                 "/* a new column cannot be added CONCURRENTLY */"],
            )]
        """,
    )
    lines = _migrate_while(conninfo, env, f"SELECT count(*) FROM {TABLE}")  # noqa: S608

    assert f"{APP}.0002_second could not get a lock within" in lines[0], lines
    assert "rolled back" in lines[0], lines


def test_hand_written_lower_case_concurrent_build_waits_for_older_transactions(
    scratch,
):
    conninfo, env, migrations = scratch
    _second(
        migrations,
        f"""
        from django.db import migrations

        class Migration(migrations.Migration):
            atomic = False
            dependencies = [("{APP}", "0001_initial")]
            operations = [migrations.RunSQL(
                ["-- writes go on meanwhile\\n"
                 "create index concurrently thing_name on {TABLE} (name)"],
            )]
        """,
    )
    with psycopg.connect(conninfo) as holder:
        # A long report: the build waits for it (lock waits longer than the
        # timeout) instead of failing and leaving an INVALID index.
        holder.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        holder.execute(f"SELECT count(*) FROM {TABLE}")  # noqa: S608
        migrate = in_background(
            "migrate", "--no-input", "-v0", APP, env=env, timeout=2 * HUNG
        )
        try:
            _wait_for_the_build_to_wait(conninfo)
            time.sleep(5 * int(LOCK_TIMEOUT_MS) / 1000)
            assert not migrate.done(), migrate.result()
        finally:
            holder.rollback()
        result = migrate.result(timeout=HUNG)
    assert result.returncode == 0, result.stderr[-800:]
    with psycopg.connect(conninfo) as check:
        valid = check.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'thing_name'::regclass"
        ).fetchone()
    assert valid == (True,)


def _wait_for_the_build_to_wait(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as watcher:
        for _ in range(2000):
            if watcher.execute(
                "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database() "  # not a neighbour's (xdist, CI)
                "AND query ILIKE '%create index concurrently%'"
            ).fetchone():
                return
            time.sleep(0.01)
    pytest.fail("the index build never waited for the older transaction")


def test_a_lock_wait_after_the_last_migration_does_not_name_it_rolled_back(
    scratch,
):
    conninfo, env, migrations = scratch
    _second(
        migrations,
        f"""
        from django.db import migrations, models

        class Migration(migrations.Migration):
            dependencies = [("{APP}", "0001_initial")]
            operations = [migrations.CreateModel(
                name="Other", fields=[("id", models.BigAutoField(primary_key=True))],
            )]
        """,
    )
    (migrations.parent / "models.py").write_text(
        MODELS + "\n\nclass Other(models.Model):\n    pass\n"
    )
    # 0002 needs no lock anyone holds; its content type (post-migrate) does.
    lines = _migrate_while(
        conninfo, env, "LOCK TABLE django_content_type IN SHARE MODE"
    )

    assert "0002_second" not in lines[0], lines
    assert "rolled back" not in lines[0], lines
    assert "run migrate again" in lines[0], lines
    shown = manage("showmigrations", APP, env=env)
    assert "[X] 0002_second" in shown.stdout, shown.stdout
    _migrate(env, APP)
