"""README, "Two commands": `serve` prints the admin URL, and that URL works,
whatever interface `--addr` binds."""

import http.client
import re

import pytest

from tests.platform.conftest import serve_port, sqlite_copy
from tests.platform.serve_run import start_serve, stop_serve, wait_for

EVERY_INTERFACE = "0.0.0.0"  # noqa: S104 - what `serve --addr` may be given


@pytest.fixture
def env(migrated_sqlite, tmp_path):
    return sqlite_copy(migrated_sqlite, tmp_path / "db.sqlite3")


def test_the_printed_admin_url_works_when_serving_every_interface(env, tmp_path):
    port = serve_port()
    log = tmp_path / "serve.log"
    proc = start_serve(f"{EVERY_INTERFACE}:{port}", env, log)
    try:
        wait_for(log, "Switchyard is up", proc, 60, pause=0.1)
        found = re.search(r"Admin: http://([^/\s]+)/admin/", log.read_text())
        assert found, log.read_text()
        # Connect to loopback, as the printed host's browser would reach us,
        # sending the printed host as the Host header.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/admin/login/", headers={"Host": found.group(1)})
        status = connection.getresponse().status
        connection.close()
        assert status == 200, (found.group(1), status)
    finally:
        stop_serve(proc)
