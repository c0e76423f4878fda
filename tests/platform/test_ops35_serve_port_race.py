"""ops35: `serve` checks the port is free, starts runserver, and prints
"Switchyard is up" once the port answers. A program that took the port
between that check and runserver's bind answered the probe, so serve
announced the other program's listener as its own (runserver then failed to
bind and serve stopped). The banner now waits for an answer only our app
gives, from a web server child still running."""

from http.server import BaseHTTPRequestHandler

import pytest

from tests.platform.conftest import sqlite_copy
from tests.platform.serve_run import serve_while_another_takes_the_port


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


def test_serve_does_not_announce_a_listener_that_took_the_port(env, tmp_path):
    code, output = serve_while_another_takes_the_port(env, tmp_path, _Answers)

    assert code == 1, output
    assert "Switchyard is up" not in output
    assert "web server exited with code 1" in output
