"""A connection `manage.py migrate` limited meanwhile (one a thread opened
while it ran: a RunPython's, a post-migrate handler's) has its own
lock_timeout again once migrate has ended: a thread that lives on (a pool, a
later command in the same process) must not keep the migration's limit."""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import pytest
from django.apps import apps
from django.db import connections, transaction
from django.db.models.signals import post_migrate

from integrations.management.entry import OneLineUtility

pytestmark = pytest.mark.postgres

LIMIT_MS = 200


def _shown() -> str:
    with connections["default"].cursor() as cursor:
        cursor.execute("SHOW lock_timeout")
        return cursor.fetchone()[0]


def _shown_in_a_rolled_back_transaction() -> str:
    with transaction.atomic():
        shown = _shown()
        transaction.set_rollback(True)
    return shown


@pytest.fixture
def pool(settings) -> Iterator[ThreadPoolExecutor]:
    if connections["default"].vendor != "postgresql":
        pytest.skip("PostgreSQL's lock_timeout")
    settings.MIGRATION_LOCK_TIMEOUT_MS = LIMIT_MS
    pool = ThreadPoolExecutor(1)
    try:
        yield pool
    finally:
        pool.submit(connections.close_all).result()
        pool.shutdown()


def _migrate_using(pool: ThreadPoolExecutor) -> str:
    """Runs `manage.py migrate` whose post-migrate handler opens a connection
    in ``pool``'s thread: the lock_timeout that thread saw meanwhile."""
    seen = []

    def handler(**kwargs):
        seen.append(pool.submit(_shown).result())

    sender = apps.get_app_config("integrations")
    post_migrate.connect(handler, sender=sender, dispatch_uid="ops26")
    try:
        # django.setup() again would point the log handlers at this test's
        # captured stderr (Django is set up already).
        with mock.patch("django.setup"):
            OneLineUtility(["manage.py", "migrate", "--no-input", "-v0"]).execute()
    finally:
        post_migrate.disconnect(sender=sender, dispatch_uid="ops26")
    assert seen, "the post-migrate handler never ran"
    return seen[0]


# Transactional: run_from_argv closes the connections when it ends.
@pytest.mark.django_db(transaction=True)
def test_a_thread_connection_gets_its_own_lock_timeout_back(pool):
    own = _shown()

    assert _migrate_using(pool) == f"{LIMIT_MS}ms"  # limited meanwhile
    assert pool.submit(_shown).result() == own


@pytest.mark.django_db(transaction=True)
def test_its_own_lock_timeout_is_back_in_a_transaction_and_after_its_rollback(
    pool,
):
    own = _shown()
    _migrate_using(pool)

    assert pool.submit(_shown_in_a_rolled_back_transaction).result() == own
    assert pool.submit(_shown).result() == own
