"""ops35: `serve` checks the port is free, starts runserver, and prints
"Switchyard is up" once the port answers. A program that took the port
between that check and runserver's bind answered the probe, so serve
announced the other program's listener as its own (runserver then failed to
bind and serve stopped). The banner now waits for an answer only our app
gives, from a web server child still running."""

import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.platform.conftest import MANAGE, ROOT, serve_port, sqlite_copy


@pytest.fixture
def env(migrated_sqlite, tmp_path):
    return sqlite_copy(migrated_sqlite, tmp_path / "db.sqlite3")


class _Answers(BaseHTTPRequestHandler):
    """Another program on the port: a web server answering 200 to anything."""

    def do_GET(self) -> None:
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, *args: object) -> None:
        pass


def _wait_for(log: Path, text: str, proc: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while text not in log.read_text():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.005)


def test_serve_does_not_announce_a_listener_that_took_the_port(env, tmp_path):
    port = serve_port()
    serve_log = tmp_path / "serve.log"
    with serve_log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, MANAGE, "serve", "--addr", f"127.0.0.1:{port}"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    other = None
    try:
        # serve found the port free and spawned runserver, which needs a
        # second or more to import Django before it binds: take the port now.
        _wait_for(serve_log, "Started web server", proc, 60)
        other = ThreadingHTTPServer(("127.0.0.1", port), _Answers)
        threading.Thread(target=other.serve_forever, daemon=True).start()
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if other is not None:
            other.shutdown()
            other.server_close()
    output = serve_log.read_text()
    assert code == 1, output
    assert "Switchyard is up" not in output
    assert "web server exited with code 1" in output
