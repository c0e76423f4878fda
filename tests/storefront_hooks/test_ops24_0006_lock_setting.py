"""storefront_hooks 0006's column waits for its table lock as long as
MIGRATION_LOCK_TIMEOUT_MS says (README: 0 waits for ever), not a fixed 5 s
of its own. Historical state only (the migration itself runs). Needs
``--migrations``."""

import threading
import time

import psycopg
import pytest
from django.core.management import call_command
from django.db import OperationalError, connection

from tests.migration_state import migrated_back

pytestmark = [pytest.mark.migrations, pytest.mark.django_db(transaction=True)]

BEFORE = "0005_delivery_created_at_database_clock"
AFTER = "0006_delivery_waits_for_slot"
TABLE = "storefront_hooks_webhookdelivery"
# The fixed wait 0006 had of its own, and how long past it the ALTER must
# still be waiting (by the server's clock) to show it has none.
OLD_WAIT_SECONDS = 5
STILL_WAITING_SECONDS = 2 * OLD_WAIT_SECONDS
# A bound on a failing run only: the test never waits this long otherwise.
GIVE_UP_SECONDS = 120


def _connect() -> psycopg.Connection:
    db = connection.settings_dict
    return psycopg.connect(
        dbname=db["NAME"],
        user=db["USER"],
        password=db["PASSWORD"],
        host=db["HOST"],
        port=db["PORT"],
        autocommit=True,
    )


def _read_in_a_long_transaction(reader: psycopg.Connection) -> None:
    """An export or a report: it has read the table and goes on. The server
    ends it if the test cannot, so a migration waiting for it never hangs."""
    reader.execute(f"SET idle_in_transaction_session_timeout = '{GIVE_UP_SECONDS}s'")
    reader.autocommit = False
    reader.execute(f"SELECT 1 FROM {TABLE} LIMIT 1")  # noqa: S608


def _migrate_in_thread(outcome: dict) -> threading.Thread:
    def run() -> None:
        try:
            call_command("migrate", "storefront_hooks", AFTER, verbosity=0)
        except Exception as exc:
            outcome["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _alter_waited(watcher: psycopg.Connection) -> float | None:
    """Seconds the column's ALTER has waited for its lock, by the server's
    clock; None while it is not waiting."""
    found = watcher.execute(
        "SELECT extract(epoch FROM now() - query_start) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock' "
        "AND query ILIKE %s",
        [f'ALTER TABLE "{TABLE}" ADD COLUMN "waits_for_slot"%'],
    ).fetchone()
    return None if found is None else float(found[0])


def _still_waiting_after(thread: threading.Thread, outcome: dict) -> None:
    """Returns once the ALTER has waited STILL_WAITING_SECONDS; fails if the
    migration ended first (it gave up on the lock)."""
    ends = time.monotonic() + GIVE_UP_SECONDS
    with _connect() as watcher:
        while (waited := _alter_waited(watcher)) is None or (
            waited < STILL_WAITING_SECONDS
        ):
            assert thread.is_alive(), f"0006 stopped waiting: {outcome}"
            assert time.monotonic() < ends, "the ALTER never waited for its lock"
            time.sleep(0.05)


@pytest.mark.parametrize("setting", [0, 600_000], ids=["no-limit", "10-minutes"])
def test_0006_waits_for_its_lock_as_long_as_the_setting_says(
    request, settings, setting
):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's lock_timeout")
    settings.MIGRATION_LOCK_TIMEOUT_MS = setting
    with migrated_back(request, "storefront_hooks", BEFORE):
        reader = _connect()
        _read_in_a_long_transaction(reader)
        outcome: dict = {}
        thread = _migrate_in_thread(outcome)
        try:
            _still_waiting_after(thread, outcome)
        finally:
            reader.rollback()  # the report ends: the ALTER gets its lock
            reader.close()
            thread.join(GIVE_UP_SECONDS)

        assert outcome == {}
        with connection.cursor() as cursor:
            columns = connection.introspection.get_table_description(cursor, TABLE)
        assert "waits_for_slot" in {column.name for column in columns}


def test_0006_gives_up_within_a_setting_shorter_than_its_old_wait(request, settings):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's lock_timeout")
    settings.MIGRATION_LOCK_TIMEOUT_MS = 100
    with migrated_back(request, "storefront_hooks", BEFORE), _connect() as reader:
        _read_in_a_long_transaction(reader)
        try:
            with pytest.raises(OperationalError, match="lock timeout"):
                call_command("migrate", "storefront_hooks", AFTER, verbosity=0)
        finally:
            reader.rollback()

        call_command("migrate", "storefront_hooks", AFTER, verbosity=0)
