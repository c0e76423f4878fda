"""r-ops35: `serve` prints its banner once the port answers /healthz with
the correlation id it sent, from a web server child still running (ops35).
Two listeners that take the port between serve's free-port check and
runserver's bind still fooled it:

- another Switchyard (a second `serve`, another checkout's runserver): its
  correlation middleware echoes the id too, and our child, still starting,
  is running when it answers: serve announced the other one's server;
- a program answering /healthz with a body that never ends: the probe read
  the body to its end, so serve hung there, never seeing runserver fail to
  bind, and a Ctrl-C (which only sets a flag the loop reads) never stopped it.
"""

import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.platform.conftest import sqlite_copy
from tests.platform.serve_run import serve_while_another_takes_the_port

HEADER = "X-Correlation-ID"


@pytest.fixture
def env(migrated_sqlite, tmp_path):
    return sqlite_copy(migrated_sqlite, tmp_path / "db.sqlite3")


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


class _AnotherSwitchyard(_Quiet):
    """Another Switchyard on the port: it echoes the correlation id."""

    def do_GET(self) -> None:
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header(HEADER, self.headers.get(HEADER, ""))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _EndlessBody(_Quiet):
    """A program streaming an answer that never ends (chunk after chunk)."""

    stop = threading.Event()

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        while not self.stop.is_set():
            try:
                self.wfile.write(b"1\r\n.\r\n")
                self.wfile.flush()
            except OSError:
                return
            time.sleep(0.2)


@pytest.mark.skipif(
    not Path("/proc/net/tcp").exists(), reason="serve asks /proc who listens"
)
def test_another_switchyard_on_the_port_is_not_announced(env, tmp_path):
    code, output = serve_while_another_takes_the_port(env, tmp_path, _AnotherSwitchyard)

    assert code == 1, output
    assert "Switchyard is up" not in output
    assert "web server exited with code 1" in output


def test_an_endless_answer_does_not_hold_serve(env, tmp_path):
    code, output = serve_while_another_takes_the_port(env, tmp_path, _EndlessBody)

    assert code == 1, output
    assert "Switchyard is up" not in output
    assert "web server exited with code 1" in output
