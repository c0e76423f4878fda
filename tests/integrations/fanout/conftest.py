import sqlite3
import threading

import pytest
from django.db import connections

from tests.integrations.fanout.adapters import PATH


@pytest.fixture
def quote_adapters(settings) -> None:
    """Register the fault-server adapter as shipping provider ``quotes``."""
    adapters = dict(settings.SWITCHYARD_ADAPTERS)
    adapters["shipping"] = {**adapters.get("shipping", {}), "quotes": PATH}
    settings.SWITCHYARD_ADAPTERS = adapters


@pytest.fixture
def threads_db(transactional_db, tmp_path):
    """A committed database that worker threads share, as in production.

    On SQLite the suite's in-memory database is in shared-cache mode, where
    concurrent writers fail at once ("database table is locked") instead of
    waiting: the test runs on a file copy of it instead, like the embedded
    default (WAL, busy timeout). Threads the runner left behind are waited
    for, so their call-log rows land before the tables are flushed.
    """
    conn = connections["default"]
    memory = conn.vendor == "sqlite" and conn.is_in_memory_db()
    if memory:
        keeper, name = _move_to_file(conn, tmp_path / "embedded.sqlite3")
    try:
        yield
    finally:
        for thread in threading.enumerate():
            if thread.name.startswith("fanout-"):
                thread.join(timeout=5)
        if memory:
            conn.close()
            conn.settings_dict["NAME"] = name
            conn.connection = keeper


def _move_to_file(conn, path) -> tuple[sqlite3.Connection, str]:
    conn.ensure_connection()
    keeper = conn.connection  # keeps the in-memory database alive meanwhile
    with sqlite3.connect(path) as target:
        keeper.backup(target)
    target.close()
    name = conn.settings_dict["NAME"]
    conn.connection = None  # detached, not closed; reconnects to the file
    conn.settings_dict["NAME"] = str(path)
    return keeper, name
