"""README, "Two commands": `serve` prints "Switchyard is up" with the admin URL.
With another program already listening on that address the banner was printed
(the other program answered the port probe) before runserver failed: the
command must refuse at once instead, in one line, starting nothing."""

import socket
from collections.abc import Iterator

import pytest

from tests.platform.conftest import sqlite_copy
from tests.platform.serve_run import run_serve


@pytest.fixture
def env(migrated_sqlite, tmp_path):
    return sqlite_copy(migrated_sqlite, tmp_path / "db.sqlite3")


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def test_serve_refuses_an_address_another_program_listens_on(env, taken_port):
    done = run_serve(f"127.0.0.1:{taken_port}", env)
    assert done.returncode == 1, done
    assert "Switchyard is up" not in done.stdout
    assert "Started" not in done.stdout  # neither child was spawned
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"127.0.0.1:{taken_port}" in lines[0]
    assert "--addr" in lines[0]


def test_serve_refuses_every_interface_when_loopback_is_taken(env, taken_port):
    # Bound to every interface, the server would be reached on loopback: the
    # program there would answer the browser instead.
    done = run_serve(f"0.0.0.0:{taken_port}", env)
    assert done.returncode == 1, done
    assert "Switchyard is up" not in done.stdout
    assert "Started" not in done.stdout
