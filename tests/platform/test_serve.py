"""`manage.py serve` over real sockets: web server and worker start together
and stop together."""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.platform.conftest import MANAGE, ROOT, serve_port, sqlite_copy
from tests.platform.serve_run import kill_session

STARTUP_SECONDS = 30


@pytest.fixture(scope="module")
def serve_env(
    migrated_sqlite: tuple[dict, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    return sqlite_copy(migrated_sqlite, tmp_path_factory.mktemp("serve") / "db.sqlite3")


class Serve:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = serve_port()
        self.log = log
        self._out = log.open("w")
        # Own session, so a Ctrl-C can be sent to the whole group as a terminal does.
        self.proc = subprocess.Popen(
            [sys.executable, MANAGE, "serve", "--addr", f"127.0.0.1:{self.port}"],
            env=env,
            cwd=ROOT,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text()

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.output()
            if "Switchyard is up" in self.output():
                return
            time.sleep(0.1)
        pytest.fail(f"serve did not come up:\n{self.output()}")

    def child_pids(self) -> dict[str, int]:
        found = re.findall(r"Started (web server|worker) \(pid (\d+)\)", self.output())
        return {name: int(pid) for name, pid in found}

    def get(self, path: str) -> int:
        url = f"http://127.0.0.1:{self.port}{path}"
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status

    def close(self) -> None:
        # The whole session: the worker leads a process group of its own.
        kill_session(self.proc.pid)
        self.proc.wait()
        self._out.close()


@pytest.fixture
def serve(serve_env: dict[str, str], tmp_path: Path) -> Iterator[Serve]:
    running = Serve(serve_env, tmp_path / "serve.log")
    yield running
    running.close()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_starts_both_and_stops_both_cleanly(serve, how):
    serve.wait_until_up()
    assert serve.get("/admin/login/") == 200
    output = serve.output()
    assert f"http://127.0.0.1:{serve.port}/admin/" in output
    assert "'admin'" in output  # the login
    pids = serve.child_pids()
    assert set(pids) == {"web server", "worker"}

    if how == "ctrl-c":
        os.killpg(serve.proc.pid, signal.SIGINT)  # what a terminal does
    else:
        serve.proc.send_signal(signal.SIGTERM)  # what a process manager does
    assert serve.proc.wait(timeout=30) == 0, serve.output()
    assert all(_gone(pid) for pid in pids.values())


def test_a_dying_child_stops_the_other_and_fails(serve):
    serve.wait_until_up()
    pids = serve.child_pids()
    os.kill(pids["web server"], signal.SIGKILL)
    assert serve.proc.wait(timeout=30) != 0
    assert _gone(pids["worker"])
    assert "web server exited with code -9" in serve.output()


def test_children_send_sandbox_webhooks_to_this_server(monkeypatch):
    from integrations.management.commands.serve import child_environment

    def base_url(host: str, port: str) -> str:
        return child_environment(host, port)["SANDBOX_WEBHOOK_BASE_URL"]

    monkeypatch.delenv("SANDBOX_WEBHOOK_BASE_URL", raising=False)
    assert base_url("127.0.0.1", "8765") == "http://127.0.0.1:8765"
    every_interface = "0.0.0.0"  # noqa: S104 - what `serve --addr` may be given
    assert base_url(every_interface, "9000") == "http://127.0.0.1:9000"
    monkeypatch.setenv("SANDBOX_WEBHOOK_BASE_URL", "https://demo.example")
    assert base_url("127.0.0.1", "8000") == "https://demo.example"
