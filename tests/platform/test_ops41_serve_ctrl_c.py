"""Ctrl-C on `manage.py serve` in a terminal: the terminal sends SIGINT to the
whole foreground process group. The worker (qcluster) must still stop in
order, at once, not hang until serve's --stop-timeout kills it
(tests/integrations/real_cluster.py: a cluster signalled twice, or whose
sentinel died from the group's signal, waits for ever in its stop)."""

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.platform.conftest import serve_port, sqlite_copy
from tests.platform.serve_run import (
    alive,
    start_serve,
    stop_serve,
    wait_for_worker,
)

ROUNDS = 3  # the hang was a race: about one stop in three under load
PROMPT_SECONDS = 10.0  # serve's --stop-timeout is 20 s


@pytest.fixture
def env(migrated_sqlite: tuple[dict, Path], tmp_path: Path) -> dict[str, str]:
    # INFO: the cluster's "running" and "has stopped" lines.
    env = sqlite_copy(migrated_sqlite, tmp_path / "db.sqlite3")
    return {**env, "Q_LOG_LEVEL": "INFO", "Q_WORKERS": "2"}


@pytest.fixture
def serve_runs() -> Iterator[list[subprocess.Popen]]:
    """Each serve started; killed at the end with all it started, if left."""
    runs: list[subprocess.Popen] = []
    yield runs
    for proc in runs:
        stop_serve(proc)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_ctrl_c_to_the_group_stops_the_worker_in_order_at_once(
    env, tmp_path, serve_runs, round_
):
    log = tmp_path / "serve.log"
    proc = start_serve(f"127.0.0.1:{serve_port()}", env, log)
    serve_runs.append(proc)
    pids = wait_for_worker(log, proc)

    started = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    code = proc.wait(timeout=60)
    took = time.monotonic() - started

    output = log.read_text()
    assert code == 0, output
    assert "did not stop" not in output, output
    assert took < PROMPT_SECONDS, f"serve took {took:.1f}s to stop:\n{output}"
    assert re.search(r"Q Cluster \S+ has stopped", output), output
    assert "Stopped web server and worker." in output
    assert not [pid for pid in pids if alive(pid)], output
