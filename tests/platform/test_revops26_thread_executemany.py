"""A connection another thread opened while `manage.py migrate` ran gets its
own lock_timeout back before its next statement, whatever that statement is:
an ``executemany`` too (the reset was run as an executemany of its own,
whose one parameter string psycopg refused: a TypeError in that thread)."""

import pytest
from django.db import connections

from tests.platform.test_ops26_lock_timeout_after_migrate import (
    _migrate_using,
    _shown,
    pool,  # noqa: F401 (the fixture)
)

pytestmark = pytest.mark.postgres


def _executemany_then_shown() -> str:
    with connections["default"].cursor() as cursor:
        cursor.executemany("SELECT %s::int", [[1], [2]])
    return _shown()


@pytest.mark.django_db(transaction=True)
def test_an_executemany_first_after_migrate_runs_and_restores(pool):  # noqa: F811
    own = _shown()
    _migrate_using(pool)

    assert pool.submit(_executemany_then_shown).result() == own
