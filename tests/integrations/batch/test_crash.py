"""The "done when": a bulk job worked by a separate OS process killed hard
(SIGKILL) mid-run, then restarted, finishes every row exactly once.

The worker processes run the job the way production does (its task works one
time budget and enqueues the next; django-q2 in sync mode runs each at once),
on this run's database: the test's PostgreSQL database, or a SQLite file when
the suite runs on SQLite. Effects are counted in the database: one outbox
row per handled row, written in the row's transaction.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[3]
WORKER = "tests.integrations.batch._crash_worker"
ROWS, CHUNK = 60, 10
KILL_AT = 24  # the fifth row of the third chunk
LEASE_SECONDS = 2


def _database_url(tmp_path: Path) -> str:
    if connection.vendor == "sqlite":
        return f"sqlite:///{tmp_path / 'batch.sqlite3'}"
    db = connection.settings_dict
    user, password = quote(db["USER"], safe=""), quote(db["PASSWORD"], safe="")
    return f"postgres://{user}:{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture
def child_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": _database_url(tmp_path),
        "Q_SYNC": "true",
        "BATCH_TIME_BUDGET_SECONDS": "0.5",  # a new task every half second
        "BATCH_LEASE_SECONDS": str(LEASE_SECONDS),
        "BATCH_SWEEP_AFTER_MINUTES": "0",
        "CRASH_ROW_SECONDS": "0.02",
    }


def _start(env: dict[str, str], command: str, **args: Any) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", WORKER, command, json.dumps(args)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run(env: dict[str, str], command: str, **args: Any) -> dict[str, Any]:
    proc = _start(env, command, **args)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def _kill_at(proc: subprocess.Popen, key: str) -> list[str]:
    """SIGKILL the worker while its handler is on row ``key`` (it pauses
    there); returns the rows it started."""
    seen: list[str] = []
    while key not in seen:
        line = proc.stdout.readline()
        assert line, f"worker ended early: {proc.stderr.read()}"
        if line.startswith("row "):
            seen.append(line.split()[1])
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    proc.stderr.close()
    return seen


def test_a_killed_worker_restarted_finishes_every_row_exactly_once(child_env):
    keys = [f"k{i:03d}" for i in range(ROWS)]
    job_id = _run(child_env, "setup", rows=ROWS, chunk=CHUNK)["job_id"]
    worker = _start(
        {**child_env, "CRASH_KILL_KEY": keys[KILL_AT]}, "work", job_id=job_id
    )
    started = _kill_at(worker, keys[KILL_AT])
    killed_at = time.monotonic()  # after the dead worker's last claim
    assert worker.returncode == -signal.SIGKILL
    assert started == keys[: KILL_AT + 1]

    mid = _run(child_env, "report", job_id=job_id)
    # Killed inside a chunk: the row in its handler rolled back, the rest of
    # the chunk still leased to the dead worker.
    assert mid["job"]["status"] == "running"
    chunk_end = (KILL_AT // CHUNK + 1) * CHUNK
    assert mid["rows"] == {
        "done": KILL_AT,
        "running": chunk_end - KILL_AT,
        "pending": ROWS - chunk_end,
    }
    assert mid["effects"] == {key: 1 for key in keys[:KILL_AT]}

    # The dead worker's leases run out (the report above took some of it).
    time.sleep(max(0.0, killed_at + LEASE_SECONDS + 0.5 - time.monotonic()))
    final = _run(child_env, "resume", job_id=job_id)
    assert final["enqueued"] == 1
    assert final["effects"] == {key: 1 for key in keys}
    assert final["rows"] == {"done": ROWS}
    assert final["job"] == {"status": "done", "total": ROWS, "done": ROWS, "failed": 0}
