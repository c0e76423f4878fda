"""A connection another thread opened while `manage.py migrate` ran gets its
own lock_timeout back once, not before every statement of its transactions:
its own ``SET LOCAL lock_timeout`` (a migration operation's, a worker's)
then holds for the statements after it, and a transaction committed ends
the resetting."""

import pytest
from django.db import connections, transaction

from tests.platform.test_ops26_lock_timeout_after_migrate import (
    _migrate_using,
    _shown,
    pool,  # noqa: F401 (the fixture)
)

pytestmark = pytest.mark.postgres


def _set_local_then_shown() -> str:
    with transaction.atomic():
        with connections["default"].cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '7s'")
        return _shown()


def _committed_then_set_local_then_shown() -> str:
    """Transactions only (a worker running each job in one)."""
    with transaction.atomic():
        _shown()
    return _set_local_then_shown()


@pytest.mark.django_db(transaction=True)
def test_its_own_set_local_holds_in_its_first_transaction(pool):  # noqa: F811
    _migrate_using(pool)

    assert pool.submit(_set_local_then_shown).result() == "7s"


@pytest.mark.django_db(transaction=True)
def test_its_own_setting_holds_after_a_committed_transaction(pool):  # noqa: F811
    own = _shown()
    _migrate_using(pool)

    assert pool.submit(_committed_then_set_local_then_shown).result() == "7s"
    assert pool.submit(_shown).result() == own
