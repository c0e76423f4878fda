"""The "done when": a worker process SIGKILLed in the middle of a
5,000-recipient bulk send, then restarted, leaves every recipient sent
exactly once, counted at a local fake SendGrid by our message id.

The kill lands after the provider accepted one message and before its
outcome was committed: that recipient is found ``sending`` on restart and
becomes ``unknown`` (never resent); the rest of the dead worker's chunk and
everything after it are sent by the restarted job. Worker processes run the
job the way production does (tests/integrations/batch/test_crash.py).
"""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from integrations.testing.faultserver import FaultServer, fault_server, respond
from tests.integrations.batch.test_crash import _database_url
from tests.notifications._bulk_crash_worker import setup

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
WORKER = "tests.notifications._bulk_crash_worker"
RECIPIENTS, CHUNK = 5000, 25
KILL_AT = 2_345  # inside a chunk, with the rest of it still leased
LEASE_SECONDS = 3
SEND = "/v3/mail/send"
# SendGrid v3 mail/send accepted: 202, empty body, X-Message-Id
# (provider-specs/email/sendgrid, "Mail Send" response).
ACCEPTED = respond(202, body=b"", headers={"X-Message-Id": "fake-sg-id"})


@pytest.fixture
def provider() -> Iterator[FaultServer]:
    with fault_server(hang_limit=3) as server:
        server.route("POST", SEND, ACCEPTED)
        yield server


@pytest.fixture
def child_env(tmp_path: Path, provider: FaultServer) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": _database_url(tmp_path),
        "Q_SYNC": "true",
        # Under Q_TIMEOUT (60 s; enforced in sync mode too).
        "BATCH_TIME_BUDGET_SECONDS": "20",
        "BATCH_LEASE_SECONDS": str(LEASE_SECONDS),
        "BATCH_SWEEP_AFTER_MINUTES": "0",
        "BULK_PROVIDER_URL": provider.url,
        # The kill is the worker's, never the database server's: a commit is
        # seen and kept whether or not the server waited for its disk flush,
        # and not waiting saves ~4 ms on each of the run's ~10,000 commits.
        "PGOPTIONS": "-c synchronous_commit=off",
    }


def _start(env: dict[str, str], command: str, **args: Any) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", WORKER, command, json.dumps(args)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _run(env: dict[str, str], command: str, **args: Any) -> dict[str, Any]:
    proc = _start(env, command, **args)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-2000:]
    return json.loads(out.strip().splitlines()[-1])


def _setup(env: dict[str, str]) -> dict[str, Any]:
    """The bulk send, not yet started. On PostgreSQL the workers share the
    test's database: made here, without a process (a Django start) for it."""
    if connection.vendor == "postgresql":
        return setup({"recipients": RECIPIENTS, "chunk": CHUNK})
    return _run(env, "setup", recipients=RECIPIENTS, chunk=CHUNK)


def _kill_at(proc: subprocess.Popen, address: str) -> int:
    """SIGKILL the worker once the provider accepted ``address`` (it pauses
    there, before recording); returns how many sends it announced."""
    sent = 0
    while True:
        line = proc.stdout.readline()
        assert line, "worker ended early"
        if line.startswith("sent "):
            sent += 1
            if line.split()[1] == address:
                break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    return sent


def _sends(provider: FaultServer) -> Counter:
    """Requests the fake provider got, by our message id (custom_args)."""
    return Counter(
        request.json()["custom_args"]["message_id"]
        for request in provider.requests_for("POST", SEND)
    )


def test_a_killed_bulk_send_restarted_sends_everyone_exactly_once(child_env, provider):
    address = f"r{KILL_AT:05d}@example.com"
    ids = _setup(child_env)
    worker = _start({**child_env, "BULK_KILL_ADDRESS": address}, "work", **ids)
    assert _kill_at(worker, address) == KILL_AT + 1
    killed_at = time.monotonic()  # after the dead worker's last claim
    assert worker.returncode == -signal.SIGKILL

    mid = _run(child_env, "report", **ids)
    assert mid["job"]["status"] == "running"
    chunk_start = (KILL_AT // CHUNK) * CHUNK
    chunk_end = chunk_start + CHUNK
    # Rows are marked done at their chunk's end (or each second of a long
    # chunk): the killed chunk's rows not yet marked are still leased, the
    # ones already sent among them no-ops when worked again.
    rows = mid["rows"]
    assert chunk_start <= rows["done"] <= KILL_AT
    assert rows["done"] + rows["running"] == chunk_end
    assert rows["pending"] == RECIPIENTS - chunk_end
    assert mid["messages"] == {"sent": KILL_AT, "sending": 1}

    # The dead worker's leases run out (the report above took some of it).
    time.sleep(max(0.0, killed_at + LEASE_SECONDS + 0.5 - time.monotonic()))
    final = _run(child_env, "resume", **ids)

    assert final["enqueued"] == 1
    sends = _sends(provider)
    assert len(sends) == RECIPIENTS
    assert set(sends.values()) == {1}
    recipients = Counter(
        request.json()["personalizations"][0]["to"][0]["email"]
        for request in provider.requests_for("POST", SEND)
    )
    assert len(recipients) == RECIPIENTS and set(recipients.values()) == {1}
    # The one caught mid-send: sent once by the provider, unknown to us.
    assert final["unknown"] == [address]
    assert final["messages"] == {"sent": RECIPIENTS - 1, "unknown": 1}
    assert final["rows"] == {"done": RECIPIENTS - 1, "failed": 1}
    assert final["job"] == {
        "status": "done",
        "total": RECIPIENTS,
        "done": RECIPIENTS - 1,
    }
