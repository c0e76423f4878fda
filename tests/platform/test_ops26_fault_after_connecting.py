"""A database error raised after `manage.py` reached the database (a
statement cancelled, a lock refused by a migration's own NOWAIT) is a fault
of that statement, not "cannot reach the database": the command closed its
connections when it ended, which must not make it look never reached."""

import pytest

from tests.platform.conftest import manage
from tests.platform.test_revops22_migrate_lock_timeout import (
    APP,
    _second,
    at_0001,  # noqa: F401 (scratch copies it)
    scratch,  # noqa: F401 (the fixture)
)

pytestmark = pytest.mark.postgres


def test_a_cancelled_statement_is_not_an_unreachable_database(scratch):  # noqa: F811
    _, env, migrations = scratch
    _second(
        migrations,
        f"""
        from django.db import migrations

        class Migration(migrations.Migration):
            dependencies = [("{APP}", "0001_initial")]
            operations = [migrations.RunSQL(
                ["SET LOCAL statement_timeout = 50", "SELECT pg_sleep(5)"],
            )]
        """,
    )
    result = manage("migrate", "--no-input", "-v0", APP, env=env)

    assert result.returncode == 1, result.stderr[-800:]
    assert "cannot reach the database" not in result.stderr, result.stderr[-800:]
    assert "canceling statement due to statement timeout" in result.stderr
