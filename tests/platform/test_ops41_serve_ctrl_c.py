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
from tests.platform.serve_run import start_serve, stop_serve, wait_for

ROUNDS = 3  # the hang was a race: about one stop in three under load
PROMPT_SECONDS = 10.0  # serve's --stop-timeout is 20 s


@pytest.fixture
def env(migrated_sqlite: tuple[dict, Path], tmp_path: Path) -> dict[str, str]:
    # INFO: the cluster's "running" and "has stopped" lines.
    env = sqlite_copy(migrated_sqlite, tmp_path / "db.sqlite3")
    return {**env, "Q_LOG_LEVEL": "INFO", "Q_WORKERS": "2"}


def descendants(root: int) -> set[int]:
    """Every live process under ``root``, from /proc's parent links."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # ended since it was listed
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses.
        parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier}
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone but for its parent's wait.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rpartition(")")[2].split()[0] != "Z"


@pytest.fixture
def serve_runs() -> Iterator[list[subprocess.Popen]]:
    """Each serve started; killed at the end with all it started, if left."""
    runs: list[subprocess.Popen] = []
    yield runs
    for proc in runs:
        stop_serve(proc)


def _wait_for_worker(log: Path, proc: subprocess.Popen, pause: float = 0.1) -> set[int]:
    """The worker's processes once its cluster is running (sentinel, pusher,
    workers, monitor), with serve's other processes."""
    wait_for(log, "Switchyard is up", proc, 60)
    deadline = time.monotonic() + 60
    worker = int(re.search(r"Started worker \(pid (\d+)\)", log.read_text())[1])
    running = re.compile(r"Q Cluster \S+ \[.*\] running")
    while not running.search(log.read_text()) or len(descendants(worker)) < 3:
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(pause)
    return descendants(proc.pid)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_ctrl_c_to_the_group_stops_the_worker_in_order_at_once(
    env, tmp_path, serve_runs, round_
):
    log = tmp_path / "serve.log"
    proc = start_serve(f"127.0.0.1:{serve_port()}", env, log)
    serve_runs.append(proc)
    pids = _wait_for_worker(log, proc)

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
