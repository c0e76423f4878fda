"""`manage.py serve`'s children do not outlive it: the worker runs in a process
group of its own, so a terminal's Ctrl-C no longer reaches it once serve is
gone, and a SIGKILLed serve (kill -9, the OOM killer) left it running. And in
its own group the worker is a background job of serve's terminal: with
`stty tostop` its first log line would stop it (SIGTTOU)."""

import contextlib
import fcntl
import os
import re
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.platform.conftest import MANAGE, ROOT, serve_port, sqlite_copy
from tests.platform.serve_run import (
    alive,
    descendants,
    start_serve,
    stop_serve,
    wait_for_worker,
)

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="parent-death signal: Linux only"
)
GONE_SECONDS = 15.0  # an idle cluster stops in about a second


@pytest.fixture
def env(migrated_sqlite: tuple[dict, Path], tmp_path: Path) -> dict[str, str]:
    # INFO: the cluster's "running" line.
    env = sqlite_copy(migrated_sqlite, tmp_path / "db.sqlite3")
    return {**env, "Q_LOG_LEVEL": "INFO", "Q_WORKERS": "2"}


def test_a_killed_serve_takes_its_worker_and_web_server_with_it(env, tmp_path):
    log = tmp_path / "serve.log"
    proc = start_serve(f"127.0.0.1:{serve_port()}", env, log)
    try:
        children = wait_for_worker(log, proc)
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + GONE_SECONDS
        while [pid for pid in children if alive(pid)]:
            left = {pid: _command(pid) for pid in children if alive(pid)}
            assert time.monotonic() < deadline, f"left running: {left}"
            time.sleep(0.1)
    finally:
        stop_serve(proc)


def test_the_worker_writes_to_a_tostop_terminal_without_being_stopped(env):
    with _serve_on_a_terminal(env) as (proc, output):
        deadline = time.monotonic() + 60
        running = re.compile(r"Q Cluster \S+ \[.*\] running")
        while not running.search("".join(output)):
            stopped = [pid for pid in descendants(proc.pid) if _state(pid) == "T"]
            assert not stopped, f"stopped: {stopped}\n{''.join(output)}"
            assert proc.poll() is None, "".join(output)
            assert time.monotonic() < deadline, "".join(output)
            time.sleep(0.1)


@contextlib.contextmanager
def _serve_on_a_terminal(
    env: dict[str, str],
) -> Iterator[tuple[subprocess.Popen, list[str]]]:
    """serve as a shell runs it in a terminal with `stty tostop`: a session
    leader whose group is the terminal's foreground group. Yields serve and
    the text written to the terminal so far (a list, read by a thread)."""
    master, slave = os.openpty()
    attrs = termios.tcgetattr(slave)
    attrs[3] |= termios.TOSTOP
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    addr = f"127.0.0.1:{serve_port()}"
    proc = subprocess.Popen(
        [sys.executable, MANAGE, "serve", "--addr", addr],
        env=env,
        cwd=ROOT,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        # After setsid: the terminal becomes serve's, its group the foreground.
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
    )
    os.close(slave)
    output: list[str] = []
    reader = threading.Thread(target=_read_all, args=(master, output), daemon=True)
    reader.start()
    try:
        yield proc, output
    finally:
        stop_serve(proc)
        os.close(master)


def _read_all(fd: int, into: list[str]) -> None:
    # Read on: a full terminal buffer would block every writer.
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # every writer gone, or the fd closed
            return
        if not chunk:
            return
        into.append(chunk.decode(errors="replace"))


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return ""


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
