"""Starting `manage.py serve` as an operator does, for the serve tests: in
the background with its output in a log, or to its end when it refuses."""

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.platform.conftest import MANAGE, ROOT, serve_port


def start_serve(addr: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """`serve --addr addr` running in a session of its own (so its web
    server and worker children stop with it), its output in ``log``."""
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, MANAGE, "serve", "--addr", addr],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_serve(proc: subprocess.Popen) -> None:
    """Kill serve's whole session: a child may outlive serve itself."""
    kill_session(proc.pid)
    proc.wait()


def kill_session(leader: int) -> None:
    """SIGKILL to every process of the session ``leader`` started (serve's:
    its worker leads a process group of its own there), found in /proc."""
    with contextlib.suppress(ProcessLookupError):  # all of it already ended
        os.killpg(leader, signal.SIGKILL)
    for entry in Path("/proc").iterdir():
        try:
            # pid (comm) state ppid pgrp session ...: comm may hold spaces.
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except (OSError, ValueError):  # not a process, or ended since listed
            continue
        if entry.name.isdigit() and int(fields[3]) == leader:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry.name), signal.SIGKILL)


def run_serve(addr: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`serve --addr addr` run to its end (one that refuses to start)."""
    return subprocess.run(
        [sys.executable, MANAGE, "serve", "--addr", addr],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def wait_for(
    log: Path, text: str, proc: subprocess.Popen, seconds: float, pause: float = 0.005
) -> None:
    """Until ``text`` is in ``log``; fails if serve ends or time runs out."""
    deadline = time.monotonic() + seconds
    while text not in log.read_text():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(pause)


def serve_while_another_takes_the_port(
    env: dict[str, str], tmp_path: Path, handler: type[BaseHTTPRequestHandler]
) -> tuple[int | None, str]:
    """serve's exit code (None: still running after a minute) and output,
    ``handler`` taking the port as serve's runserver starts. A handler's
    ``stop`` event, if it has one, is set before its server closes (closing
    waits for the handlers)."""
    port = serve_port()
    serve_log = tmp_path / "serve.log"
    proc = start_serve(f"127.0.0.1:{port}", env, serve_log)
    stop = getattr(handler, "stop", None)
    other = None
    try:
        # serve found the port free and spawned runserver, which needs a
        # second or more to import Django before it binds: take the port now.
        wait_for(serve_log, "Started web server", proc, 60)
        other = ThreadingHTTPServer(("127.0.0.1", port), handler)
        threading.Thread(target=other.serve_forever, daemon=True).start()
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            code = None
    finally:
        stop_serve(proc)
        if stop is not None:
            stop.set()
        if other is not None:
            other.shutdown()
            other.server_close()
        if stop is not None:
            stop.clear()
    return code, serve_log.read_text()


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


def wait_for_worker(log: Path, proc: subprocess.Popen, pause: float = 0.1) -> set[int]:
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
