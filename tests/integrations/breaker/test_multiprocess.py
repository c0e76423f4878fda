"""Separate OS processes sharing only Redis see one breaker and one rate limit.

The workers are forked, one per job, by one ``python -m
tests.integrations.breaker._mp_worker`` (DJANGO_SETTINGS_MODULE=tests.settings,
this run's REDIS_URL) once it has started Django, so a worker starts in a
fork, however slowly a fresh interpreter would start Django on a loaded
machine. Processes cannot share a fake clock, so the breaker test asserts
nothing that depends on how long a step took: the breaker stays open for an
hour, and its racers see the open time over through a Redis whose clock runs
ahead (``AHEAD``: its TIME replies shifted by a proxy, the data the same).
"""

import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings

from integrations.breaker import breaker_for
from integrations.errors import NotProcessed
from integrations.ratelimit import limiter_for
from tests.factories import ProviderAccountFactory
from tests.integrations.redis_clock_proxy import redis_clock_proxy

pytestmark = [pytest.mark.redis, pytest.mark.django_db]

ROOT = Path(__file__).resolve().parents[3]
WORKER = "tests.integrations.breaker._mp_worker"
WAIT = 30  # seconds a worker may take before the test gives up on it
# The breaker's open time and probe timeout: no step of a test outlasts them.
HOUR = 3600.0
# The racers' Redis clock is this far ahead: past the open time by 10
# minutes, however late their clock was learnt, and within the first probe slot.
AHEAD = int(HOUR) + 600


class Workers:
    """The process that forks the workers: a job line in, a worker each; the
    worker's id comes back on a line once its result file is written."""

    def __init__(self, folder: Path, redis_url: str | None = None) -> None:
        self.folder = folder
        self.stderr = (folder / "stderr.txt").open("w+")
        redis_url = redis_url or settings.REDIS_URL
        env = {**os.environ, "REDIS_URL": redis_url, "PYTHONPATH": str(ROOT)}
        env.pop("DATABASE_URL", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", WORKER],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.finished: set[str] = set()
        # A thread reads stdout so that waiting for a worker can time out.
        threading.Thread(target=self._read, daemon=True).start()
        assert self._next_line(time.time() + 120) == "ready"

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put("")  # the process has gone

    def _next_line(self, give_up: float) -> str:
        try:
            line = self.lines.get(timeout=max(0.0, give_up - time.time()))
        except queue.Empty:
            line = "(timed out)"
        if line in ("", "(timed out)"):
            self.stderr.seek(0)
            pytest.fail(f"worker process: {line or 'exited'}\n{self.stderr.read()}")
        return line

    def start(self, job: dict[str, Any]) -> str:
        name = uuid.uuid4().hex
        out = self.folder / f"{name}.json"
        self.proc.stdin.write(json.dumps({**job, "id": name, "out": str(out)}) + "\n")
        self.proc.stdin.flush()
        return name

    def result(self, name: str) -> dict[str, Any]:
        give_up = time.time() + WAIT
        while name not in self.finished:
            self.finished.add(self._next_line(give_up))
        outcome = json.loads((self.folder / f"{name}.json").read_text())
        assert "error" not in outcome, outcome["error"]
        return outcome["result"]

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        return self.result(self.start(job))

    def close(self) -> None:
        self.proc.stdin.close()  # the forking process exits once its workers did
        try:
            self.proc.wait(timeout=WAIT)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.stderr.close()


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    forker = Workers(tmp_path_factory.mktemp("breaker-mp"))
    try:
        yield forker
    finally:
        forker.close()


@pytest.fixture(scope="module")
def workers_ahead(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    """Workers whose Redis (the same data) tells the time ``AHEAD`` seconds on."""
    with redis_clock_proxy(settings.REDIS_URL, offset=AHEAD) as proxy:
        forker = Workers(tmp_path_factory.mktemp("breaker-mp-ahead"), proxy.url)
        try:
            yield forker
        finally:
            forker.close()


def _release(barrier: str, *, parties: int, not_before: float = 0.0) -> float:
    """Wait until every worker is ready, then give them one start time."""
    line = redis.Redis.from_url(settings.REDIS_URL)
    give_up = time.time() + 60
    while int(line.get(f"{barrier}:ready") or 0) < parties:
        assert time.time() < give_up, "workers never became ready"
        time.sleep(0.01)
    start_at = max(not_before, time.time() + 0.3)
    line.set(f"{barrier}:go", repr(start_at), ex=120)
    line.expire(f"{barrier}:ready", 120)
    return start_at


def _job(account, command: str, **extra: Any) -> dict[str, Any]:
    return {
        "command": command,
        "pk": account.pk,
        "slug": account.slug,
        "settings": account.settings,
        **extra,
    }


def test_processes_see_one_breaker_and_one_probe(workers, workers_ahead):
    account = ProviderAccountFactory(
        settings={
            "breaker_consecutive_failures": 3,
            # Open for an hour: the observers see it open however loaded the
            # machine; the racers, AHEAD, see its open time over.
            "breaker_open_seconds": HOUR,
            "breaker_probe_timeout_seconds": HOUR,
        }
    )
    tripped = workers.run(_job(account, "trip"))
    assert tripped == {"failures": 3, "state": "open"}

    seen = workers.run(_job(account, "observe"))  # another process
    assert seen["state"] == "open"
    assert seen["refused"] == "breaker_open"
    assert "3 consecutive failures" in seen["reason"]
    with pytest.raises(NotProcessed):  # and this one
        breaker_for(account).before_call()

    barrier = f"mp-race-{uuid.uuid4().hex}"
    racers = [
        workers_ahead.start(
            _job(account, "race", barrier=barrier, seconds=1.0, parties=2)
        )
        for _ in range(2)
    ]
    _release(barrier, parties=len(racers))
    results = [workers_ahead.result(name) for name in racers]
    assert sum(r["passed"] for r in results) == 1, results
    # The other process kept knocking during the probe and was refused.
    assert all(r["refused"] > 0 for r in results if not r["passed"]), results
    # The probe succeeded in one process: closed for everyone.
    assert breaker_for(account).snapshot().state == "closed"
    assert workers.run(_job(account, "observe"))["refused"] == ""


def test_processes_together_stay_within_one_rate_limit(workers):
    per_second, burst, seconds = 100.0, 5.0, 2.0
    account = ProviderAccountFactory(
        settings={
            "rate_limit_per_second": per_second,
            "rate_limit_burst": burst,
            "rate_limit_max_wait_seconds": 0.5,
        }
    )
    barrier = f"mp-rate-{uuid.uuid4().hex}"
    takers = [
        workers.start(_job(account, "rate", barrier=barrier, seconds=seconds))
        for _ in range(2)
    ]
    start_at = _release(barrier, parties=len(takers))
    results = [workers.result(name) for name in takers]
    end = start_at + seconds
    granted = [t for r in results for t in r["granted"] if t <= end]
    expected = burst + per_second * seconds
    # Never above the one shared limit, whatever the machine's load.
    assert len(granted) <= 1.1 * expected, (len(granted), expected)
    # And not starved: while both processes were taking tokens, together they
    # got the limit's rate. (On a loaded machine a process may start late;
    # tokens it could not take before then are not the limiter's doing.)
    both_from = max(min(r["granted"]) for r in results)
    window = end - both_from
    assert window > 0.5 * seconds, (window, results)
    together = [t for t in granted if t >= both_from]
    assert (
        abs(len(together) - per_second * window) <= 0.1 * per_second * window + burst
    ), (
        len(together),
        per_second * window,
    )
    # Both really competed for the tokens.
    assert all(len(r["granted"]) > 0.25 * expected for r in results), results


def test_concurrency_cap_counts_slots_held_by_other_processes(workers):
    account = ProviderAccountFactory(
        settings={"max_concurrency": 2, "concurrency_max_wait_seconds": 0}
    )
    limiter = limiter_for(account)
    with limiter.concurrency_slot():
        assert workers.run(_job(account, "slot")) == {"slot": "taken", "in_flight": 2}
        with limiter.concurrency_slot():
            assert workers.run(_job(account, "slot")) == {
                "slot": "concurrency_limited",
                "in_flight": 2,
            }
    assert workers.run(_job(account, "slot")) == {"slot": "taken", "in_flight": 1}
