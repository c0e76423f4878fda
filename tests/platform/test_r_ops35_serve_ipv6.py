"""r-ops35: `serve --addr [::1]:PORT` (runserver's own spelling of an IPv6
address) connected to the host as written, brackets and all, which no
resolver knows: the port probe never answered, so an address another program
held was not refused (runserver failed later), and the banner never came
although the server was up."""

import socket
from collections.abc import Iterator

import pytest

from tests.platform.conftest import serve_port, sqlite_copy
from tests.platform.forkstart import manage  # forked: a fresh start's settings
from tests.platform.serve_run import start_serve, stop_serve, wait_for


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


pytestmark = pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback")


@pytest.fixture
def env(migrated_sqlite, tmp_path):
    return sqlite_copy(migrated_sqlite, tmp_path / "db.sqlite3")


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET6) as listener:
        listener.bind(("::1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def test_serve_refuses_an_ipv6_address_another_program_listens_on(env, taken_port):
    # Refused before it spawns anything: forked, not a new interpreter.
    done = manage("serve", "--addr", f"[::1]:{taken_port}", env=env)

    assert done.returncode == 1, done
    assert "Started" not in done.stdout, done.stdout
    assert f"[::1]:{taken_port} is in use" in done.stderr


def test_serve_on_ipv6_loopback_prints_its_banner(env, tmp_path):
    port = serve_port()
    log = tmp_path / "serve.log"
    proc = start_serve(f"[::1]:{port}", env, log)
    try:
        wait_for(log, "Switchyard is up", proc, 60, pause=0.05)
    finally:
        stop_serve(proc)

    assert f"Admin: http://[::1]:{port}/admin/" in log.read_text()
