"""`manage.py serve`'s worker gets a second SIGTERM when serve is killed after
it has already sent the first (the parent-death signal): the cluster's handler
then runs again inside its first run. django-q2's stop sets the sentinel's
stop event, whose notify waits for the sleeping sentinel to wake while it
holds the event's lock; a second handler run there waits for that lock for
ever, and the worker never stops. The second SIGTERM must be harmless.

Made certain here by holding the sentinel (SIGSTOP) while the first stop is
under way, then letting it go once the second SIGTERM has arrived."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from integrations.management.commands.serve import WORKER_COMMAND as WORKER
from tests.platform.conftest import MANAGE, ROOT, sqlite_copy
from tests.platform.serve_run import alive, descendants, stop_serve, wait_for

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="parent-death signal: Linux only"
)
GONE_SECONDS = 20.0  # an idle cluster stops in about a second


@pytest.fixture
def env(migrated_sqlite: tuple[dict, Path], tmp_path: Path) -> dict[str, str]:
    # INFO: the cluster's "running" and "stopping" lines.
    env = sqlite_copy(migrated_sqlite, tmp_path / "db.sqlite3")
    return {**env, "Q_LOG_LEVEL": "INFO", "Q_WORKERS": "1"}


@pytest.fixture
def worker(env, tmp_path) -> Iterator[tuple[subprocess.Popen, Path, set[int]]]:
    """The worker serve runs, started as serve starts it (its own process
    group), its log and every process of its cluster once it runs. Whatever
    happens, set-up included, all of it is let go and killed."""
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, MANAGE, WORKER],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    started: set[int] = set()
    try:
        started |= _cluster_running(log, proc)
        yield proc, log, started
    finally:
        for pid in started | descendants(proc.pid):
            _signal(pid, signal.SIGCONT)
        stop_serve(proc)  # the whole session
        for pid in started:
            _signal(pid, signal.SIGKILL)


def test_a_worker_signalled_twice_while_stopping_stops(worker):
    proc, log, started = worker
    sentinels = [pid for pid in started if _parent(pid) == proc.pid]
    assert sentinels, log.read_text()
    for pid in sentinels:
        _signal(pid, signal.SIGSTOP)  # asleep on the stop event, held there

    proc.send_signal(signal.SIGTERM)  # serve's
    wait_for(log, "stopping.", proc, 30, pause=0.05)
    time.sleep(0.5)  # the cluster's handler is in the event's notify now
    proc.send_signal(signal.SIGTERM)  # the parent-death signal of a killed serve
    time.sleep(0.5)
    for pid in sentinels:
        _signal(pid, signal.SIGCONT)

    try:
        proc.wait(timeout=GONE_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the worker did not stop:\n{log.read_text()}")
    deadline = time.monotonic() + GONE_SECONDS
    while [pid for pid in started if alive(pid)]:
        left = sorted(pid for pid in started if alive(pid))
        assert time.monotonic() < deadline, f"left running: {left}\n{log.read_text()}"
        time.sleep(0.1)


def _cluster_running(log: Path, proc: subprocess.Popen) -> set[int]:
    deadline = time.monotonic() + 60
    while "running." not in log.read_text() or len(descendants(proc.pid)) < 3:
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    return descendants(proc.pid)


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[1])


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


@pytest.mark.postgres
@pytest.mark.django_db
def test_serves_worker_checks_its_redis_broker_as_qcluster_does():
    from tests.platform.test_lead26_qcluster_redis import REDIS_PASSWORD, _env
    from tests.platform.test_readme_commands import _manage, _said

    url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:1/0"
    result = _manage(WORKER, env=_env(url))

    assert result.returncode == 1, result.stdout[-400:] + result.stderr[-800:]
    assert "Traceback" not in result.stderr, result.stderr[-800:]
    said = _said(result)
    assert len(said) == 1, said[-5:]
    assert said[0].startswith("cannot reach Redis (127.0.0.1:1): "), said
