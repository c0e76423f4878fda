"""Separate OS processes sharing only Redis see one breaker and one rate limit.

Each worker is ``python -m tests.integrations.breaker._mp_worker`` with
DJANGO_SETTINGS_MODULE=tests.settings and this run's REDIS_URL; real time,
because processes cannot share a fake clock.
"""

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings

from integrations.breaker import breaker_for
from integrations.errors import NotProcessed
from integrations.ratelimit import limiter_for
from tests.factories import ProviderAccountFactory

pytestmark = [pytest.mark.redis, pytest.mark.django_db]

ROOT = Path(__file__).resolve().parents[3]
WORKER = "tests.integrations.breaker._mp_worker"


def _start(job: dict[str, Any]) -> subprocess.Popen:
    env = {**os.environ, "REDIS_URL": settings.REDIS_URL, "PYTHONPATH": str(ROOT)}
    env.pop("DATABASE_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", WORKER, json.dumps(job)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(proc: subprocess.Popen) -> dict[str, Any]:
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def _run(job: dict[str, Any]) -> dict[str, Any]:
    return _result(_start(job))


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


def test_processes_see_one_breaker_and_one_probe():
    account = ProviderAccountFactory(
        settings={
            "breaker_consecutive_failures": 3,
            # Long enough that starting the observer process on a loaded
            # 2-core machine still sees it open; the racers wait it out.
            "breaker_open_seconds": 6.0,
            "breaker_probe_timeout_seconds": 30,
        }
    )
    tripped = _run(_job(account, "trip"))
    assert tripped == {"failures": 3, "state": "open"}

    seen = _run(_job(account, "observe"))  # another process
    assert seen["state"] == "open"
    assert seen["refused"] == "breaker_open"
    assert "3 consecutive failures" in seen["reason"]
    with pytest.raises(NotProcessed):  # and this one
        breaker_for(account).before_call()

    opened_until = breaker_for(account).snapshot().opened_until.timestamp()
    barrier = f"mp-race-{uuid.uuid4().hex}"
    racers = [
        _start(_job(account, "race", barrier=barrier, seconds=1.0)) for _ in range(2)
    ]
    _release(barrier, parties=len(racers), not_before=opened_until)
    results = [_result(p) for p in racers]
    assert sum(r["passed"] for r in results) == 1, results
    # The other process kept knocking during the probe and was refused.
    assert all(r["refused"] > 0 for r in results if not r["passed"]), results
    # The probe succeeded in one process: closed for everyone.
    assert breaker_for(account).snapshot().state == "closed"
    assert _run(_job(account, "observe"))["refused"] == ""


def test_processes_together_stay_within_one_rate_limit():
    per_second, burst, seconds = 100.0, 5.0, 2.0
    account = ProviderAccountFactory(
        settings={
            "rate_limit_per_second": per_second,
            "rate_limit_burst": burst,
            "rate_limit_max_wait_seconds": 0.5,
        }
    )
    barrier = f"mp-rate-{uuid.uuid4().hex}"
    workers = [
        _start(_job(account, "rate", barrier=barrier, seconds=seconds))
        for _ in range(2)
    ]
    start_at = _release(barrier, parties=len(workers))
    results = [_result(p) for p in workers]
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


def test_concurrency_cap_counts_slots_held_by_other_processes():
    account = ProviderAccountFactory(
        settings={"max_concurrency": 2, "concurrency_max_wait_seconds": 0}
    )
    limiter = limiter_for(account)
    with limiter.concurrency_slot():
        assert _run(_job(account, "slot")) == {"slot": "taken", "in_flight": 2}
        with limiter.concurrency_slot():
            assert _run(_job(account, "slot")) == {
                "slot": "concurrency_limited",
                "in_flight": 2,
            }
    assert _run(_job(account, "slot")) == {"slot": "taken", "in_flight": 1}
