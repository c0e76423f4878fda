"""The OS processes of the multi-process tests (run by test_multiprocess.py).

    python -m tests.integrations.breaker._mp_worker

Django is set up once, then each JSON job line read on stdin is run in a
process forked from it (as a django-q cluster forks its workers), so a
worker starts in a fork, not an interpreter and Django. A worker shares only
Redis with the test process and its siblings: its database is its own copy
of the in-memory SQLite (breaker events land there). It writes its result as
JSON to the job's "out" file, then prints the job's id on a line. "ready" is
printed once Django is up; the process exits when stdin closes.
"""

import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any


def _setup() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    os.environ["DATABASE_URL"] = "sqlite://:memory:"
    import django

    django.setup()
    from django.db import connection

    # Tables straight from the models, as the suite builds them.
    connection.settings_dict["TEST"]["MIGRATE"] = False
    connection.creation.create_test_db(verbosity=0, serialize=False)


def _account(job: dict[str, Any]):
    from integrations.models import ProviderAccount

    # The same row as the test's, built in memory: state is keyed by pk.
    return ProviderAccount(
        pk=job["pk"],
        slug=job["slug"],
        kind="payments",
        provider="sandbox",
        display_name=job["slug"],
        settings=job["settings"],
    )


def _wait_until(start_at: float) -> None:
    delay = start_at - time.time()
    if delay > 0:
        time.sleep(delay)


def trip(job: dict[str, Any]) -> dict[str, Any]:
    from integrations.breaker import breaker_for
    from integrations.errors import NotProcessed

    breaker = breaker_for(_account(job))
    failures = 0
    while breaker.snapshot().state == "closed" and failures < 100:
        breaker.before_call()
        breaker.record_failure(NotProcessed("refused", code="connection_refused"))
        failures += 1
    return {"failures": failures, "state": str(breaker.snapshot().state)}


def observe(job: dict[str, Any]) -> dict[str, Any]:
    from integrations.breaker import breaker_for
    from integrations.errors import NotProcessed

    breaker = breaker_for(_account(job))
    snap = breaker.snapshot()
    try:
        breaker.before_call()
        refused = ""
    except NotProcessed as exc:
        refused = exc.code
    return {"state": str(snap.state), "reason": snap.last_reason, "refused": refused}


def race(job: dict[str, Any]) -> dict[str, Any]:
    """Hammer before_call from start_at for a while. A caller let through is
    the probe: it reports success only once every racer has stopped knocking
    (``_stopped``), so the siblings knock against a half-open breaker the
    whole time, however late the machine's load lets them run. A racer
    always knocks once at least, and after its last knock says it stopped."""
    from integrations.breaker import breaker_for
    from integrations.errors import NotProcessed

    breaker = breaker_for(_account(job))
    start_at = _barrier(job["barrier"], job.get("barrier_wait", 60.0))
    passed = refused = 0
    stall = job.get("stall", 0.0)
    # One deadline for every racer, whenever it woke.
    deadline = start_at + job["seconds"]
    try:
        while refused == 0 or time.time() < deadline:
            if stall and time.time() > deadline - 0.05:
                # Descheduled by the machine's load just before a knock.
                time.sleep(stall)
                stall = 0.0
            try:
                breaker.before_call()
            except NotProcessed:
                refused += 1
                continue
            passed += 1
            break
    finally:
        # Said even by a racer that crashed: the probe holder must not wait
        # out its minute (the test would see a timeout, not the traceback).
        _stopped(job["barrier"], wait_for=job["parties"] if passed else 0)
    if passed:
        breaker.record_success()
    return {"passed": passed, "refused": refused}


def _stopped(name: str, *, wait_for: int) -> None:
    """Say this racer stopped knocking; then wait until ``wait_for`` racers
    (this one included) have said so."""
    import redis
    from django.conf import settings

    line = redis.Redis.from_url(settings.REDIS_URL)
    line.incr(f"{name}:stopped")
    line.expire(f"{name}:stopped", 120)
    give_up = time.time() + 60
    while int(line.get(f"{name}:stopped") or 0) < wait_for:
        if time.time() > give_up:
            raise RuntimeError("the other racers never stopped knocking")
        time.sleep(0.005)


def rate(job: dict[str, Any]) -> dict[str, Any]:
    """Take tokens as fast as the shared limit allows; return when each came."""
    from integrations.errors import NotProcessed
    from integrations.ratelimit import limiter_for

    limiter = limiter_for(_account(job))
    start_at = _barrier(job["barrier"], job.get("barrier_wait", 60.0))
    end = start_at + job["seconds"]
    granted: list[float] = []
    refused = 0
    while time.time() < end:
        try:
            limiter.acquire()
        except NotProcessed:
            refused += 1
            continue
        granted.append(time.time())
    return {"granted": granted, "refused": refused}


def slot(job: dict[str, Any]) -> dict[str, Any]:
    from integrations.errors import NotProcessed
    from integrations.ratelimit import limiter_for

    limiter = limiter_for(_account(job))
    try:
        with limiter.concurrency_slot():
            return {"slot": "taken", "in_flight": limiter.in_flight()}
    except NotProcessed as exc:
        return {"slot": exc.code, "in_flight": limiter.in_flight()}


def _barrier(name: str, wait: float = 60.0) -> float:
    """Say this process is ready, then wait for the test's start time: a
    worker that started slowly on a loaded machine does not start late. A
    test that never releases it (failed first) leaves no orphan polling."""
    import redis
    from django.conf import settings

    line = redis.Redis.from_url(settings.REDIS_URL)
    line.incr(f"{name}:ready")
    give_up = time.time() + wait
    while (start := line.get(f"{name}:go")) is None:
        if time.time() > give_up:
            raise RuntimeError(f"the barrier {name} was never released")
        time.sleep(0.005)
    start_at = float(start)
    _wait_until(start_at)
    return start_at


COMMANDS = {"trip": trip, "observe": observe, "race": race, "rate": rate, "slot": slot}


def _child(job: dict[str, Any]) -> None:
    """One forked worker: run the job, store its result or its traceback."""
    status = 1
    try:
        try:
            result = {"result": COMMANDS[job["command"]](job)}
            status = 0
        except BaseException:
            import traceback

            result = {"error": traceback.format_exc()}
        out = Path(job["out"])
        # A whole file, then a short line: results of any size never mix.
        out.with_suffix(".part").write_text(json.dumps(result))
        out.with_suffix(".part").replace(out)
        os.write(sys.stdout.fileno(), f"{job['id']}\n".encode())
    finally:
        os._exit(status)


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def main() -> None:
    _setup()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    # The in-memory database stays open: closing it would drop it. Each child
    # gets its own copy, and this process never touches it again.
    for line in sys.stdin:
        _reap()
        job = json.loads(line)
        if os.fork() == 0:
            _child(job)
    with contextlib.suppress(ChildProcessError):
        while True:
            os.wait()


if __name__ == "__main__":
    main()
